// veille dashboard behaviour. Loaded from this origin only (the CSP forbids inline script);
// everything that comes from posts reaches the page as escaped HTML from the server, never
// through innerHTML built here.
"use strict";

// Mark alerts that arrive live so the eye finds them; the SSE extension inserts them.
document.addEventListener("htmx:sseMessage", function (event) {
  var target = event.detail && event.detail.elt;
  if (!target) { return; }
  var first = target.querySelector(".alert");
  if (first) { first.classList.add("fresh"); }
});

// Charts: a <div class="chart" data-src="/api/..."> gets its series from the JSON API.
function drawChart(box) {
  if (!window.uPlot || box.dataset.drawn) { return; }
  box.dataset.drawn = "1";
  fetch(box.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (data) { plot(box, data); })
    .catch(function () { box.textContent = box.dataset.failed || "—"; });
}

function plot(box, data) {
  // data: {times:[unix s], series:[{label, values:[...], color}], spikes:[unix s]}
  var spikes = data.spikes || [];
  var opts = {
    width: Math.max(300, box.clientWidth - 16),
    height: 220,
    series: [{}].concat(data.series.map(function (s) {
      return { label: s.label, stroke: s.color || "#1f5fa8", width: 2, scale: s.scale || "y" };
    })),
    axes: [{}, { scale: "y" }].concat(
      data.series.some(function (s) { return s.scale === "s"; }) ? [{ scale: "s", side: 1 }] : []),
    scales: { s: { range: [-1, 1] } },
    hooks: {
      draw: [function (u) {
        var ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#b91c1c";
        ctx.lineWidth = 2;
        ctx.setLineDash([4, 4]);
        spikes.forEach(function (t) {
          var x = Math.round(u.valToPos(t, "x", true));
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        });
        ctx.restore();
      }]
    }
  };
  box.textContent = "";
  new window.uPlot(opts, [data.times].concat(data.series.map(function (s) { return s.values; })), box);
}

function drawAll(root) {
  (root || document).querySelectorAll(".chart[data-src]").forEach(drawChart);
}
document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.detail.elt); });
