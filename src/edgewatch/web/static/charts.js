/* Plotly charts with one look. Plotly is served by the dashboard itself. */
"use strict";
window.EW = window.EW || {};

(function (EW) {
  const COLORS = { tcp: "#2563eb", dns: "#16a34a", sni: "#9333ea", exec: "#ea580c", seccomp: "#dc2626" };
  const PALETTE = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#dc2626", "#0891b2", "#ca8a04", "#4b5563", "#db2777", "#65a30d"];
  EW.color = (name, i) => COLORS[name] || PALETTE[i % PALETTE.length];

  const BASE = {
    margin: { l: 50, r: 20, t: 10, b: 40 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12, color: "#1f2937" },
    xaxis: { gridcolor: "#e5e7eb", zeroline: false },
    yaxis: { gridcolor: "#e5e7eb", zeroline: false, rangemode: "tozero" },
    legend: { orientation: "h", y: 1.12 },
    colorway: PALETTE,
  };
  const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  EW.plot = function (el, data, layout) {
    if (!window.Plotly) { el.textContent = "charts unavailable"; return; }
    const merged = Object.assign({}, BASE, layout || {});
    merged.xaxis = Object.assign({}, BASE.xaxis, (layout || {}).xaxis);
    merged.yaxis = Object.assign({}, BASE.yaxis, (layout || {}).yaxis);
    window.Plotly.react(el, data, merged, CONFIG);
  };

  /* horizontal bars: labels top to bottom in the order given */
  EW.hbar = function (el, labels, values, opts) {
    opts = opts || {};
    const height = Math.max(160, 22 * labels.length + 50);
    el.style.height = height + "px";
    EW.plot(el, [{
      type: "bar", orientation: "h", y: labels.slice().reverse(), x: values.slice().reverse(),
      marker: { color: opts.colors ? opts.colors.slice().reverse() : "#2563eb" },
      hovertemplate: "%{y}: %{x:,}<extra></extra>",
    }], { margin: { l: Math.min(320, 8 + 7 * Math.max(...labels.map((l) => String(l).length), 4)), r: 20, t: 10, b: 30 }, showlegend: false, yaxis: { automargin: true } });
  };
})(window.EW);
