/* driver report: the capacity chart (uPlot) from the JSON in #driver-capacity: throughput and
   p99 of each judged step against its level, with the highest passing level, the first
   failing one and the knee marked. The table beside it already says everything in text. */
(function () {
  "use strict";
  var tag = document.getElementById("driver-capacity"), el = document.getElementById("chart-capacity");
  if (!tag || !el || typeof uPlot === "undefined") return;
  var C = JSON.parse(tag.textContent);
  if (!C.level || C.level.length === 0) return;
  var MARKS = [["highest", "#1a7f37", "highest passing"], ["knee", "#bf8700", "knee"], ["failing", "#cf222e", "first failing"]];

  function fmtMs(v) {
    if (v == null) return "–";
    if (v < 1) return (v * 1000).toPrecision(3) + " µs";
    if (v < 1000) return v.toPrecision(3) + " ms";
    return (v / 1000).toPrecision(3) + " s";
  }
  function marks(u) {  // a dashed vertical line and its name at each marked level
    var ctx = u.ctx, dpr = devicePixelRatio, b = u.bbox;
    ctx.save();
    ctx.font = (11 * dpr) + "px sans-serif";
    MARKS.forEach(function (m, i) {
      var level = C[m[0]];
      if (level == null) return;
      var x = u.valToPos(level, "x", true);
      ctx.strokeStyle = m[1]; ctx.fillStyle = m[1]; ctx.lineWidth = 1.5 * dpr; ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
      ctx.fillText(m[2], x + 4 * dpr, b.top + (12 + 13 * i) * dpr);
    });
    ctx.restore();
  }
  var lo = C.level[0], hi = C.level[C.level.length - 1];
  var opts = {
    width: el.clientWidth || 600, height: 260,
    // levels that grow by a factor (10:1000:x2) spread out on a logarithmic axis
    scales: { x: hi >= 10 * lo ? { time: false, distr: 3, log: 10 }
                               : { time: false, range: function () { return lo === hi ? [0, hi * 1.1] : [lo, hi]; } },
              y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } },
              ms: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
    series: [
      { label: C.unit || "level", value: function (u, v) { return v == null ? "–" : String(v); } },
      { label: "req/s", stroke: "#0969da", width: 2, points: { size: 7 },
        value: function (u, v) { return v == null ? "–" : v.toFixed(1); } },
      { label: "p99", stroke: "#cf222e", width: 2, scale: "ms", points: { size: 7 },
        value: function (u, v) { return fmtMs(v); } }
    ],
    axes: [
      { label: "level (" + (C.unit || "") + ")" },
      { label: "requests / s", size: 60 },
      { label: "p99 (ms)", scale: "ms", side: 1, grid: { show: false }, stroke: "#cf222e", size: 60 }
    ],
    hooks: { draw: [marks] },
    legend: { live: true }
  };
  new uPlot(opts, [C.level, C.rps, C.p99], el);
  el.setAttribute("data-drawn", "1");
})();
