/* driver web UI: start a run, watch its per-second windows (server-sent events), steer it,
   download its reports, compare past runs. Every string from the server or the user is
   set with textContent (never as HTML). Charts: uPlot, vendored with the HTML report. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a"];
  var HEIGHT = 200;
  var state = { run: null, windows: [], charts: {}, mode: "closed", profiles: [] };

  // -- small helpers
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function ms(ns) { return ns == null ? null : ns / 1e6; }
  function fmtMs(ns) {
    if (ns == null) return "–";
    var v = ns / 1e6;
    if (v < 1) return (v * 1000).toPrecision(3) + " µs";
    if (v < 1000) return v.toPrecision(3) + " ms";
    return (v / 1000).toPrecision(3) + " s";
  }
  function fmtNum(v, d) { return v == null ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: d == null ? 1 : d }); }
  function fmtPct(v) { return v == null ? "–" : (100 * v).toFixed(v < 0.001 && v > 0 ? 3 : 2) + "%"; }
  function fmtValue(v, unit) {  // a threshold's value in its unit (driver.stats.thresholds)
    if (unit === "ns") return fmtMs(v);
    if (unit === "ratio") return fmtPct(v);
    return fmtNum(v, 2);
  }
  function api(method, path, body) {
    var opts = { method: method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { var e = new Error(data.error || r.statusText); e.field = data.field; throw e; }
        return data;
      });
    });
  }
  function figure(parent, key, value) {
    var f = el("span", null, "figure");
    f.appendChild(el("span", value, "v"));
    f.appendChild(el("span", key, "k"));
    parent.appendChild(f);
  }

  // -- the start form
  function mode() { return document.querySelector("input[name=mode]:checked").value; }
  function showMode() {
    var open = mode() === "open";
    $("closed-fields").hidden = open;
    $("open-fields").hidden = !open;
  }
  function formData() {
    var f = { url: $("f-url").value, config: $("f-config").value, scenario: $("f-scenario").value,
              profile: $("f-profile").value, duration: $("f-duration").value, workers: $("f-workers").value,
              thresholds: $("f-thresholds").value };
    if (mode() === "open") { f.rate = $("f-rate").value; f.users = $("f-cap").value; }
    else { f.users = $("f-users").value; f.spawn_rate = $("f-spawn").value; }
    Object.keys(f).forEach(function (k) { if (f[k] === "") delete f[k]; });
    return f;
  }
  function start(ev) {
    ev.preventDefault();
    $("start-error").textContent = "";
    $("start").disabled = true;
    api("POST", "/api/runs", formData()).then(function (meta) {
      newRun(meta);
    }).catch(function (e) {
      $("start-error").textContent = (e.field ? e.field + ": " : "") + e.message;
    }).finally(function () { $("start").disabled = state.run && busy(state.run); });
  }
  function busy(run) { return ["starting", "running", "stopping"].indexOf(run.status) >= 0; }

  // -- the file chooser (the server lists the working directory only)
  var chooserTarget = null;
  function choose(target) { chooserTarget = target; listDir(""); }
  function listDir(dir) {
    api("GET", "/api/files?dir=" + encodeURIComponent(dir)).then(function (d) {
      $("chooser").hidden = false;
      $("chooser-path").textContent = "./" + d.path;
      var ul = $("chooser-list");
      clear(ul);
      if (d.parent !== null) addEntry(ul, "..", function () { listDir(d.parent); });
      d.entries.forEach(function (e) {
        var wanted = chooserTarget === "f-scenario" ? /\.py$/i : /\.ya?ml$/i;
        if (!e.dir && !wanted.test(e.name)) return;
        addEntry(ul, e.name + (e.dir ? "/" : ""), function () {
          if (e.dir) { listDir(e.path); return; }
          $(chooserTarget).value = e.path;
          $("chooser").hidden = true;
        });
      });
    }).catch(function (e) { $("start-error").textContent = e.message; });
  }
  function addEntry(ul, label, onclick) {
    var li = el("li"), b = el("button", label);
    b.type = "button"; b.addEventListener("click", onclick);
    li.appendChild(b); ul.appendChild(li);
  }

  // -- charts
  function chart(id, series, axes) {
    var node = $(id);
    clear(node);
    var opts = { width: Math.max(300, node.clientWidth || 500), height: HEIGHT, scales: { x: { time: false } },
                 series: [{ label: "elapsed s" }].concat(series), axes: [{}].concat(axes), legend: { live: true } };
    var data = [[]].concat(series.map(function () { return []; }));
    return new uPlot(opts, data, node);
  }
  function line(label, color, extra) {
    var s = { label: label, stroke: color, width: 1.5 };
    for (var k in extra || {}) s[k] = extra[k];
    return s;
  }
  function makeCharts(open) {
    state.charts = {
      rps: chart("c-rps", [line("req/s", COLORS[0], { fill: "rgba(9,105,218,0.08)" }),
                          line("errors/s", COLORS[1]),
                          line(open ? "asked arrivals/s" : "asked users", COLORS[5], { dash: [4, 4], scale: open ? "y" : "u" })],
                   [{ label: "per second" }, { scale: "u", side: 1, grid: { show: false } }]),
      lat: chart("c-lat", [line("p50", COLORS[2]), line("p95", COLORS[4]), line("p99", COLORS[1])], [{ label: "ms" }]),
      users: chart("c-users", [line("users", COLORS[0]), line("in flight", COLORS[3])], [{}]),
      gen: chart("c-gen", [line("cpu %", COLORS[4]), line("lag ms", COLORS[3], { scale: "lag" })],
                 [{ label: "%" }, { scale: "lag", side: 1, grid: { show: false } }])
    };
  }
  function drawCharts() {
    var W = state.windows, t = W.map(function (w) { return w.point.t; });
    var col = function (f) { return W.map(f); };
    var prevT = function (i) { return i === 0 ? 0 : W[i - 1].point.t; };
    var C = state.charts;
    if (!C.rps) return;
    C.rps.setData([t, col(function (w) { return w.point.rps; }),
                   col(function (w, i) { var dt = w.point.t - prevT(i); return dt > 0 ? (w.point.errors + w.point.http_errors) / dt : 0; }),
                   col(function (w) { return w.point.asked; })]);
    C.lat.setData([t, col(function (w) { return ms(w.point.p50_ns); }), col(function (w) { return ms(w.point.p95_ns); }),
                   col(function (w) { return ms(w.point.p99_ns); })]);
    C.users.setData([t, col(function (w) { return w.point.active_users; }), col(function (w) { return w.point.in_flight; })]);
    C.gen.setData([t, col(function (w) { return 100 * w.point.cpu_max; }), col(function (w) { return ms(w.point.lag_mean_ns); })]);
  }

  // -- a run
  function newRun(meta) {
    state.run = meta;
    state.windows = [];
    state.mode = meta.mode;
    $("end").hidden = true;
    clear($("endpoints").tBodies[0]); clear($("thresholds")); clear($("figures")); $("fitness").textContent = "";
    $("steer-label").textContent = meta.mode === "open" ? "Arrivals /s" : "Users";
    makeCharts(meta.mode === "open");
    showRun(meta);
  }
  function showRun(meta) {
    if (!state.run || meta.id !== state.run.id) { newRun(meta); return; }
    state.run = meta;
    var s = $("status");
    s.textContent = meta.status + (meta.paused ? " (paused)" : "");
    s.className = "badge " + meta.status;
    $("run-target").textContent = meta.target ? "— " + meta.target : "";
    var going = busy(meta);
    ["steer-apply", "pause", "stop", "steer-value"].forEach(function (id) { $(id).disabled = !going || meta.status === "stopping"; });
    $("pause").textContent = meta.paused ? "Resume" : "Pause";
    $("start").disabled = going;
    if (meta.error) $("steer-msg").textContent = meta.error;
  }
  function addWindow(w) {
    var last = state.windows[state.windows.length - 1];
    if (last && w.point.t <= last.point.t) return;  // pushed while the snapshot was taken: had it
    state.windows.push(w);
    var p = w.point, fig = $("figures");
    clear(fig);
    figure(fig, "elapsed", p.t.toFixed(0) + " s");
    figure(fig, "users", fmtNum(p.active_users, 0));
    figure(fig, state.mode === "open" ? "asked /s" : "asked users", fmtNum(p.asked, 1));
    figure(fig, "req/s", fmtNum(p.rps, 0));
    var dt = w.dt || 1;
    figure(fig, "errors/s", fmtNum((p.errors + p.http_errors) / dt, 1));
    figure(fig, "p50", fmtMs(p.p50_ns));
    figure(fig, "p95", fmtMs(p.p95_ns));
    figure(fig, "p99", fmtMs(p.p99_ns));
    figure(fig, "in flight", fmtNum(p.in_flight, 0));
    figure(fig, "cpu", (100 * p.cpu_max).toFixed(0) + "%");
    figure(fig, "loop lag", fmtMs(p.lag_mean_ns));
    if (p.dropped) figure(fig, "dropped", fmtNum(p.dropped, 0));
    $("fitness").textContent = (w.fitness || []).join("; ");
    var body = $("endpoints").tBodies[0];
    clear(body);
    w.rows.forEach(function (r) {
      var tr = el("tr");
      [r.name, fmtNum(r.rps, 0), fmtNum(r.errors, 0), fmtNum(r.check_failures, 0), fmtMs(r.p50_ns), fmtMs(r.p95_ns), fmtMs(r.p99_ns)]
        .forEach(function (v, i) { tr.appendChild(el("td", v, i === 2 && r.errors ? "bad" : null)); });
      body.appendChild(tr);
    });
    var ul = $("thresholds");
    clear(ul);
    w.thresholds.forEach(function (th) {
      var cls = th.state === "failing now" ? "bad" : th.state === "passing" ? "good" : null;
      ul.appendChild(el("li", th.threshold + " — " + th.state + (th.value != null ? " (" + fmtValue(th.value, th.unit) + ")" : ""), cls));
    });
    drawCharts();
  }
  function showEnd(sum) {
    $("end").hidden = false;
    if (sum.error) { $("end-validity").textContent = "failed: " + sum.error; return; }
    var fig = $("end-figures");
    clear(fig);
    figure(fig, "requests", fmtNum(sum.requests, 0));
    figure(fig, "req/s", fmtNum(sum.rps, 1));
    figure(fig, "errors", fmtNum(sum.errors, 0) + " (" + fmtPct(sum.error_rate) + ")");
    figure(fig, "p50", fmtMs(sum.p50_ns)); figure(fig, "p95", fmtMs(sum.p95_ns)); figure(fig, "p99", fmtMs(sum.p99_ns));
    var v = sum.validity || {};
    $("end-validity").textContent = v.valid === false ? "NOT VALID: " + (v.reasons || []).join("; ") : "valid: the generator kept up";
    $("end-validity").className = v.valid === false ? "error" : "";
    var notes = $("end-notes");
    clear(notes);
    (sum.verdicts || []).forEach(function (x) { notes.appendChild(el("li", (x.passed ? "PASS " : "FAIL ") + x.threshold, x.passed ? "good" : "bad")); });
    (sum.reasons || []).concat(sum.notes || []).forEach(function (n) { notes.appendChild(el("li", n)); });
    var body = $("checks").tBodies[0];
    clear(body);
    (sum.checks || []).forEach(function (c) {
      var tr = el("tr");
      [c.endpoint, c.reason, fmtNum(c.failures, 0)].forEach(function (x) { tr.appendChild(el("td", x)); });
      body.appendChild(tr);
    });
    var dl = $("downloads");
    clear(dl);
    if (sum.run) {
      [["HTML", "report.html"], ["JSON", "result.json"], ["CSV", "stats.csv"], ["CSV history", "stats_history.csv"],
       ["CSV failures", "failures.csv"], ["Markdown", "summary.md"], ["JUnit", "junit.xml"]].forEach(function (f) {
        var a = el("a", f[0]);
        a.href = "/api/results/" + encodeURIComponent(sum.run) + "/" + f[1];
        a.setAttribute("download", sum.run + "-" + f[1]);
        dl.appendChild(a);
      });
    }
    loadRuns();
  }

  // -- live events (server-sent), with a poll as the fallback
  function listen() {
    var es = new EventSource("/api/events");
    es.addEventListener("snapshot", function (ev) {
      var d = JSON.parse(ev.data);
      if (!d.run) return;
      newRun(d.run);
      d.windows.forEach(addWindow);
      if (d.summary) showEnd(d.summary);
    });
    es.addEventListener("run", function (ev) { showRun(JSON.parse(ev.data)); });
    es.addEventListener("window", function (ev) { addWindow(JSON.parse(ev.data)); });
    es.addEventListener("end", function (ev) { showEnd(JSON.parse(ev.data)); });
  }

  // -- steering
  function steer(body) {
    $("steer-msg").textContent = "";
    return api("POST", "/api/run/steer", body).then(function (d) {
      $("steer-msg").textContent = "from " + d.t.toFixed(1) + " s: " + (d.paused ? "paused" : d.load == null ? "the plan's shape" : fmtNum(d.load, 2));
    }).catch(function (e) { $("steer-msg").textContent = e.message; });
  }
  function applySteer() {
    var v = $("steer-value").value;
    if (v === "") return;
    steer(state.mode === "open" ? { rate: Number(v) } : { users: Number(v) });
  }

  // -- past runs and compare
  function loadRuns() {
    api("GET", "/api/results").then(function (d) {
      $("output").textContent = "in " + d.output;
      var body = $("runs").tBodies[0];
      clear(body);
      d.runs.forEach(function (r, i) {
        var tr = el("tr");
        ["base", "new"].forEach(function (k) {
          var td = el("td"), radio = el("input");
          radio.type = "radio"; radio.name = "cmp-" + k; radio.value = r.name;
          if ((k === "new" && i === 0) || (k === "base" && i === 1)) radio.checked = true;
          td.appendChild(radio); tr.appendChild(td);
        });
        [r.name, r.target, fmtNum(r.requests, 0), fmtNum(r.rps, 1), fmtMs(r.p99_ns), fmtPct(r.error_rate),
         r.error || (r.complete ? "complete" : "incomplete") + (r.valid === false ? ", not valid" : "") + (r.passed ? "" : ", failed thresholds")]
          .forEach(function (x) { tr.appendChild(el("td", x)); });
        var links = el("td");
        r.files.forEach(function (f) {
          var a = el("a", f.replace(/\..*$/, ""));
          a.href = "/api/results/" + encodeURIComponent(r.name) + "/" + f;
          a.setAttribute("download", r.name + "-" + f);
          links.appendChild(a); links.appendChild(document.createTextNode(" "));
        });
        tr.appendChild(links);
        body.appendChild(tr);
      });
    }).catch(function (e) { $("compare-error").textContent = e.message; });
  }
  function compareRuns() {
    var b = document.querySelector("input[name=cmp-base]:checked"), n = document.querySelector("input[name=cmp-new]:checked");
    $("compare-error").textContent = "";
    if (!b || !n) { $("compare-error").textContent = "choose a base and a new run"; return; }
    api("GET", "/api/compare?base=" + encodeURIComponent(b.value) + "&new=" + encodeURIComponent(n.value)).then(function (d) {
      var table = $("comparison"), body = table.tBodies[0];
      clear(body);
      table.hidden = false;
      d.rows.forEach(function (row) {
        var tr = el("tr");
        tr.appendChild(el("td", row.endpoint));
        ["rps", "p50", "p95", "p99", "error_rate"].forEach(function (m) {
          var x = row.metrics[m], f = m === "rps" ? function (v) { return fmtNum(v, 1); } : m === "error_rate" ? fmtPct : fmtMs;
          var rel = x.relative == null ? "" : " (" + (x.relative >= 0 ? "+" : "") + (100 * x.relative).toFixed(1) + "%)";
          tr.appendChild(el("td", f(x.base) + " → " + f(x.new) + rel));
        });
        body.appendChild(tr);
      });
    }).catch(function (e) { $("compare-error").textContent = e.message; });
  }

  // -- start
  function init() {
    document.querySelectorAll("input[name=mode]").forEach(function (r) { r.addEventListener("change", showMode); });
    $("start-form").addEventListener("submit", start);
    $("choose-config").addEventListener("click", function () { choose("f-config"); });
    $("choose-scenario").addEventListener("click", function () { choose("f-scenario"); });
    $("clear-config").addEventListener("click", function () { $("f-config").value = ""; });
    $("clear-scenario").addEventListener("click", function () { $("f-scenario").value = ""; });
    $("chooser-close").addEventListener("click", function () { $("chooser").hidden = true; });
    $("steer-apply").addEventListener("click", applySteer);
    $("pause").addEventListener("click", function () { steer({ paused: !(state.run && state.run.paused) }); });
    $("stop").addEventListener("click", function () { api("POST", "/api/run/stop", {}).catch(function (e) { $("steer-msg").textContent = e.message; }); });
    $("refresh-runs").addEventListener("click", loadRuns);
    $("compare").addEventListener("click", compareRuns);
    ["steer-apply", "pause", "stop", "steer-value"].forEach(function (id) { $(id).disabled = true; });
    makeCharts(false);
    api("GET", "/api/state").then(function (d) {
      $("where").textContent = "working directory " + d.workdir;
      (d.profiles || []).forEach(function (p) { var o = el("option", p); o.value = p; $("f-profile").appendChild(o); });
    });
    loadRuns();
    listen();
  }
  init();
})();
