/* inprod dashboard: draws every chart on the page with uPlot, again after htmx swaps.
 *
 * A chart is an element with class "chart" and a data-chart attribute holding JSON:
 *   {"x": [unix seconds...],
 *    "series": [{"label": "p99", "values": [number|null...], "color": "#hex" (optional)}],
 *    "thresholds": [{"value": 300, "label": "p99 <= 300 ms"}],   (dashed horizontal lines)
 *    "marks": [{"t": unix seconds, "label": "canary 10%", "kind": "plan"|"alert"}],  (vertical)
 *    "height": 180, "spark": false, "unit": "ms"}
 * The server downsamples: a chart carries at most a few thousand points.
 */
(function () {
  "use strict";

  var PALETTE = ["#2f5bd3", "#e07b39", "#1f8a4c", "#9b51e0", "#c0392b", "#16a0b5", "#7a869a"];
  var MARK_COLORS = { plan: "#7a5af5", alert: "#c0392b" };

  function fmt(v, unit) {
    if (v == null || isNaN(v)) return "–";
    var a = Math.abs(v);
    var s = a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.01 || a === 0 ? v.toFixed(3) : v.toExponential(2);
    return unit ? s + " " + unit : s;
  }

  function overlay(spec) {
    /* thresholds and marks, drawn after the series on the same canvas */
    return function (u) {
      var ctx = u.ctx;
      var left = u.bbox.left, top = u.bbox.top, width = u.bbox.width, height = u.bbox.height;
      ctx.save();
      ctx.textAlign = "left"; /* uPlot leaves it right-aligned: labels would run off the left */
      ctx.textBaseline = "alphabetic";
      ctx.font = Math.round(10 * devicePixelRatio) + "px system-ui, sans-serif";
      (spec.thresholds || []).forEach(function (th) {
        var y = u.valToPos(th.value, "y", true);
        if (y < top || y > top + height) return;
        ctx.strokeStyle = "#c0392b";
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.lineWidth = devicePixelRatio;
        ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
        if (th.label && !spec.spark) {
          ctx.fillStyle = "#c0392b";
          ctx.fillText(th.label, left + 4 * devicePixelRatio, y - 3 * devicePixelRatio);
        }
      });
      ctx.setLineDash([]);
      (spec.marks || []).forEach(function (m) {
        var x = u.valToPos(m.t, "x", true);
        if (x < left || x > left + width) return;
        ctx.strokeStyle = MARK_COLORS[m.kind] || "#7a869a";
        ctx.lineWidth = devicePixelRatio;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
        if (m.label && !spec.spark) {
          /* alert labels one line below plan labels: both may fall on one step */
          var line = m.kind === "alert" ? 2 : 1;
          var gap = 3 * devicePixelRatio;
          /* near the right edge the label goes left of its line, so it is not cut off */
          var leftward = x + gap + ctx.measureText(m.label).width > left + width;
          ctx.textAlign = leftward ? "right" : "left";
          ctx.fillStyle = ctx.strokeStyle;
          ctx.fillText(m.label, leftward ? x - gap : x + gap, top + 11 * line * devicePixelRatio);
        }
      });
      ctx.restore();
    };
  }

  function draw(el) {
    if (el.dataset.drawn) return;
    var spec;
    try { spec = JSON.parse(el.dataset.chart || "{}"); } catch (e) { el.textContent = "bad chart data"; return; }
    var x = spec.x || [];
    var series = spec.series || [];
    var points = 0;
    series.forEach(function (s) { (s.values || []).forEach(function (v) { if (v != null) points++; }); });
    el.dataset.drawn = "1";
    el.dataset.points = String(points);
    if (!x.length || !points) {
      el.innerHTML = '<div class="empty">' + (spec.empty || "no data in this window") + "</div>";
      return;
    }
    var spark = !!spec.spark;
    var thresholds = (spec.thresholds || []).map(function (t) { return t.value; });
    var opts = {
      width: Math.max(el.clientWidth || 0, spark ? 120 : 300),
      height: spec.height || (spark ? 36 : 180),
      legend: { show: !spark },
      cursor: { show: !spark },
      scales: {
        x: { time: true },
        y: {
          range: function (u, min, max) {
            /* keep the threshold lines in view */
            thresholds.forEach(function (t) { if (t < min) min = t; if (t > max) max = t; });
            if (min === max) { min -= 1; max += 1; }
            var pad = (max - min) * 0.08;
            return [spec.y_min != null ? spec.y_min : min - pad, max + pad];
          },
        },
      },
      axes: spark ? [{ show: false }, { show: false }] : [
        {},
        { size: 60, values: function (u, vals) { return vals.map(function (v) { return fmt(v, ""); }); } },
      ],
      series: [{}].concat(series.map(function (s, i) {
        return {
          label: s.label,
          stroke: s.color || PALETTE[i % PALETTE.length],
          width: spark ? 1.5 : 2,
          spanGaps: false,
          value: function (u, v) { return fmt(v, spec.unit); },
          /* dots where there are few values: a lone value between gaps draws no line */
          points: { show: (s.values || []).filter(function (v) { return v != null; }).length < 60 },
        };
      })),
      hooks: { draw: [overlay(spec)] },
    };
    var data = [x].concat(series.map(function (s) { return s.values; }));
    el.innerHTML = "";
    var plot = new uPlot(opts, data, el);
    el._plot = plot;
    (window.inprodCharts = window.inprodCharts || []).push(plot);
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".chart[data-chart]").forEach(draw);
  }

  function resize() {
    (window.inprodCharts || []).forEach(function (plot) {
      var el = plot.root.parentNode;
      if (el && el.clientWidth) plot.setSize({ width: el.clientWidth, height: plot.height });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  function forget(root) {
    /* plots being swapped out: free them, and keep only plots still on the page */
    (window.inprodCharts || []).forEach(function (plot) {
      if (root.contains(plot.root)) plot.destroy();
    });
    window.inprodCharts = (window.inprodCharts || []).filter(function (plot) {
      return document.body.contains(plot.root) && !root.contains(plot.root);
    });
  }

  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (ev.detail.target) forget(ev.detail.target);
  });
  document.addEventListener("htmx:afterSwap", function (ev) { drawAll(ev.target); });
  window.addEventListener("resize", function () {
    clearTimeout(window._inprodResize);
    window._inprodResize = setTimeout(resize, 150);
  });
  window.inprodDrawCharts = drawAll;
})();
