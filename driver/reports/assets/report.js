/* driver report: charts (uPlot) from the JSON in #driver-data, and sortable tables.
   Everything the page shows as text is already in the HTML; this only draws. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("driver-data").textContent);
  var COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#d1242f", "#57606a"];
  var HEIGHT = 240;
  // time-axis steps in seconds: whole seconds, then minutes, then hours
  var TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  var charts = [];

  function fmtClock(s) {
    if (s == null) return "";
    var neg = s < 0; s = Math.abs(Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
    return (neg ? "-" : "") + (h ? h + ":" : "") + mm;
  }
  function fmtMs(v) {
    if (v == null) return "–";
    if (v < 1) return (v * 1000).toPrecision(3) + " µs";
    if (v < 1000) return v.toPrecision(3) + " ms";
    return (v / 1000).toPrecision(3) + " s";
  }
  function fmtNum(v, digits) {
    if (v == null) return "–";
    return v.toLocaleString("en-US", { maximumFractionDigits: digits == null ? 1 : digits });
  }
  function fmtShort(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    return String(Math.round(v * 100) / 100);
  }
  // percentile from the x of a percentile plot: x = 1 / (1 - p)
  function pctLabel(x, extra) {
    if (x == null) return "–";
    var p = 100 - 100 / x;
    var d = Math.max(0, Math.ceil(Math.log10(x) - 2 - 1e-9)) + (extra || 0);
    return p.toFixed(d) + "%";
  }

  // each chaos fault window ([start_s, end_s, fault] in D.chaos) shaded over the plot area,
  // its fault's name at the foot of the band; clipped to the plot, skipped when outside it
  function chaosWindows(u) {
    var ctx = u.ctx, dpr = devicePixelRatio, b = u.bbox;
    ctx.save();
    ctx.font = (10 * dpr) + "px sans-serif";
    (D.chaos || []).forEach(function (w) {
      var x0 = Math.max(b.left, u.valToPos(w[0], "x", true));
      var x1 = Math.min(b.left + b.width, u.valToPos(w[1], "x", true));
      if (x1 < x0) return;
      ctx.fillStyle = "rgba(207,34,46,0.08)";
      ctx.fillRect(x0, b.top, Math.max(x1 - x0, dpr), b.height);  // a zero-length window stays visible
      ctx.fillStyle = "#cf222e";
      ctx.fillText(String(w[2]), x0 + 3 * dpr, b.top + b.height - 4 * dpr);
    });
    ctx.restore();
  }

  function markers() {  // the chaos windows, then the abort line
    return {
      hooks: {
        draw: [function (u) {
          chaosWindows(u);
          if (D.aborted_t == null) return;
          var x = u.valToPos(D.aborted_t, "x", true), ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#cf222e"; ctx.setLineDash([5, 4]); ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          ctx.fillStyle = "#cf222e"; ctx.font = (11 * devicePixelRatio) + "px sans-serif";
          ctx.fillText("aborted", x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
          ctx.restore();
        }]
      }
    };
  }

  function line(label, color, opts) {
    var s = { label: label, stroke: color, width: 1.5 };
    for (var k in opts || {}) s[k] = opts[k];
    return s;
  }

  function timeChart(id, series, data, axes, scales) {
    var el = document.getElementById(id);
    if (!el) return;
    var opts = {
      width: el.clientWidth || 600, height: HEIGHT,
      cursor: { sync: { key: "driver-time" } },
      scales: Object.assign({ x: { time: false } }, scales || {}),
      series: [{ label: "elapsed", value: function (u, v) { return fmtClock(v); } }].concat(series),
      axes: [{ incrs: TIME_INCRS, space: 70, values: function (u, splits) { return splits.map(fmtClock); } }].concat(axes),
      plugins: [markers()],
      legend: { live: true }
    };
    charts.push(new uPlot(opts, [D.series.t].concat(data), el));
  }

  function drawTimeCharts() {
    var S = D.series;
    if (!S || !S.t || S.t.length === 0) return;
    timeChart("chart-throughput", [
      line("req/s", COLORS[0], { fill: "rgba(9,105,218,0.08)", value: function (u, v) { return fmtNum(v); } }),
      line("errors/s", COLORS[1], { scale: "err", value: function (u, v) { return fmtNum(v); } }),
      line("throttled/s", COLORS[4], { scale: "err", value: function (u, v) { return fmtNum(v); } })
    ], [S.rps, S.errors_ps, S.throttled_ps], [
      { label: "requests / s", values: function (u, s) { return s.map(fmtShort); }, size: 60 },
      { label: "errors / s", scale: "err", side: 1, grid: { show: false }, stroke: COLORS[1],
        values: function (u, s) { return s.map(fmtShort); }, size: 60 }
    ], { err: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } });

    timeChart("chart-latency", [
      line("p50", COLORS[2], { value: function (u, v) { return fmtMs(v); } }),
      line("p90", COLORS[0], { value: function (u, v) { return fmtMs(v); } }),
      line("p95", COLORS[4], { value: function (u, v) { return fmtMs(v); } }),
      line("p99", COLORS[1], { value: function (u, v) { return fmtMs(v); } })
    ], [S.p50, S.p90, S.p95, S.p99], [
      { label: "latency (ms)", values: function (u, s) { return s.map(function (v) { return fmtShort(v); }); }, size: 60 }
    ], { y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } });

    var users = [line(D.mode === "open" ? "users" : "active users", COLORS[3], { value: function (u, v) { return fmtNum(v, 0); } }),
      line("in flight", COLORS[0], { value: function (u, v) { return fmtNum(v, 0); } }),
      line("connections", COLORS[5], { value: function (u, v) { return fmtNum(v, 0); }, dash: [4, 3] })];
    var usersData = [S.users, S.in_flight, S.connections];
    if (S.late_ps) {
      users.push(line("late/s", COLORS[4], { scale: "late", value: function (u, v) { return fmtNum(v); } }));
      users.push(line("dropped/s", COLORS[1], { scale: "late", value: function (u, v) { return fmtNum(v); } }));
      usersData.push(S.late_ps, S.dropped_ps);
    }
    var usersAxes = [{ label: "users, requests", values: function (u, s) { return s.map(fmtShort); }, size: 60 }];
    if (S.late_ps) usersAxes.push({ label: "late, dropped / s", scale: "late", side: 1, grid: { show: false }, size: 60 });
    timeChart("chart-users", users, usersData, usersAxes,
      { y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } });

    if (S.groups) {  // a grouped run: a line per group
      var G = S.groups;
      timeChart("chart-groups-rps", G.names.map(function (n, i) {
        return line(n, COLORS[i % COLORS.length], { value: function (u, v) { return fmtNum(v); } });
      }), G.rps, [{ label: "requests / s", values: function (u, s) { return s.map(fmtShort); }, size: 60 }],
      { y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } });
      timeChart("chart-groups-p99", G.names.map(function (n, i) {
        return line(n + " p99", COLORS[i % COLORS.length], { spanGaps: true, value: function (u, v) { return fmtMs(v); } });
      }), G.p99, [{ label: "p99 (ms)", values: function (u, s) { return s.map(fmtShort); }, size: 60 }],
      { y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } });
    }

    timeChart("chart-generator", [
      line("busiest worker CPU %", COLORS[3], { value: function (u, v) { return v == null ? "–" : v.toFixed(0) + "%"; } }),
      line("event-loop lag", COLORS[4], { scale: "lag", value: function (u, v) { return fmtMs(v); } })
    ], [S.cpu, S.lag], [
      { label: "CPU % of a core", size: 60 },
      { label: "loop lag (ms)", scale: "lag", side: 1, grid: { show: false }, stroke: COLORS[4], size: 60 }
    ], {
      y: { range: function (u, min, max) { return [0, Math.max(100, max * 1.05)]; } },
      lag: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } }
    });
  }

  var pctChart = null;
  function drawPercentiles() {
    var P = D.percentiles, el = document.getElementById("chart-percentiles");
    if (!el || !P || !P.x || P.x.length === 0) return;
    var toggle = document.getElementById("pct-log");
    var logY = !!(toggle && toggle.checked);
    var xmax = P.x[P.x.length - 1];
    var series = [{ label: "percentile", value: function (u, v) { return pctLabel(v, 1); } }];
    P.series.forEach(function (s, i) {
      series.push(line(s.name, COLORS[i % COLORS.length], { spanGaps: true, width: s.total ? 2.5 : 1.5,
        points: { show: false },
        value: function (u, v) { return fmtMs(v); } }));
    });
    var y = logY ? { distr: 3, log: 10 }
                 : { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } };
    var opts = {
      width: el.clientWidth || 600, height: HEIGHT + 40,
      scales: { x: { time: false, distr: 3, log: 10, range: function () { return [1, Math.max(10, xmax)]; } },
                y: y },
      series: series,
      axes: [
        { label: "percentile", splits: function (u, i, min, max) {
            var out = [];
            for (var x = 1; x <= max * 1.0001; x *= 10) out.push(x);
            return out;
          }, values: function (u, splits) { return splits.map(function (x) { return pctLabel(x); }); } },
        { label: "latency (ms)", values: function (u, s) { return s.map(fmtShort); }, size: 60 }
      ],
      legend: { live: true }
    };
    if (pctChart) {
      charts.splice(charts.indexOf(pctChart), 1);
      pctChart.destroy();
    }
    pctChart = new uPlot(opts, [P.x].concat(P.series.map(function (s) { return s.values; })), el);
    charts.push(pctChart);
    if (toggle && !toggle.hasAttribute("data-bound")) {
      toggle.setAttribute("data-bound", "1");
      toggle.addEventListener("change", drawPercentiles);
    }
  }

  function sortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.filter.call(body.rows, function (r) { return !r.classList.contains("total"); });
        var fixed = Array.prototype.filter.call(body.rows, function (r) { return r.classList.contains("total"); });
        var asc = !th.classList.contains("sorted-asc");
        Array.prototype.forEach.call(heads, function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
        th.classList.add(asc ? "sorted-asc" : "sorted-desc");
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
          var c = (x !== null && y !== null) ? (parseFloat(x) - parseFloat(y))
                                              : a.cells[col].textContent.localeCompare(b.cells[col].textContent);
          return asc ? c : -c;
        });
        rows.concat(fixed).forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function resize() {
    charts.forEach(function (u) {
      var w = u.root.parentNode.clientWidth;
      if (w && w !== u.width) u.setSize({ width: w, height: u.height });
    });
  }

  function main() {
    drawTimeCharts();
    drawPercentiles();
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) cancelAnimationFrame(pending);
      pending = requestAnimationFrame(resize);
    });
    document.body.setAttribute("data-charts", String(charts.length));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
