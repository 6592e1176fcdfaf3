// Hand-written SVG charts for the mmwe page (no library, no network): a time-series line chart and a labelled
// scatter map. Both render into a container element and size themselves to its width.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  if (parent) parent.appendChild(el);
  return el;
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toFixed(10));
  return ticks;
}

// Tick label for a time (UTC): the date for long spans, then month-day and time, then time with seconds.
function formatDate(ms, span) {
  const iso = new Date(ms).toISOString();
  if (span >= 3 * 86400e3) return iso.slice(0, 10);
  if (span >= 2 * 3600e3) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(11, 19);
}

// series: [{name, points: [{t: ms, y: number, label: string}]}]
function lineChart(container, series, opts) {
  const options = Object.assign({ height: 280, yLabel: "" }, opts || {});
  container.textContent = "";
  const width = Math.max(320, container.clientWidth || 640);
  const height = options.height;
  const m = { top: 16, right: 16, bottom: 40, left: 52 };
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": options.ariaLabel || "line chart" }, container);
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return svg;
  let t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
  if (t1 === t0) { t0 -= 3600e3; t1 += 3600e3; }
  let y0 = Math.min(...all.map((p) => p.y)), y1 = Math.max(...all.map((p) => p.y));
  const pad = (y1 - y0) * 0.1 || Math.max(Math.abs(y1) * 0.1, 0.05);
  y0 -= pad; y1 += pad;
  const x = (t) => m.left + ((t - t0) / (t1 - t0)) * (width - m.left - m.right);
  const y = (v) => height - m.bottom - ((v - y0) / (y1 - y0)) * (height - m.top - m.bottom);

  const axes = svgEl("g", { class: "axes" }, svg);
  for (const v of niceTicks(y0, y1, 5)) {
    svgEl("line", { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v), class: "grid" }, axes);
    svgEl("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, axes).textContent =
      Math.abs(v) < 10 ? v.toFixed(2) : v.toFixed(0);
  }
  const span = t1 - t0;
  const xTicks = Math.min(6, Math.max(2, Math.floor((width - m.left - m.right) / 110)));
  let previous = "";
  for (let i = 0; i <= xTicks; i++) {
    const t = t0 + (span * i) / xTicks;
    const label = formatDate(t, span);
    if (label === previous) continue; // ticks closer than the label's resolution
    previous = label;
    const anchor = i === 0 ? "start" : i === xTicks ? "end" : "middle";
    svgEl("text", { x: x(t), y: height - m.bottom + 18, "text-anchor": anchor, class: "tick" }, axes)
      .textContent = label;
  }
  svgEl("line", { x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom, class: "axis" }, axes);
  svgEl("line", { x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom, class: "axis" }, axes);
  if (options.yLabel) {
    svgEl("text", { x: 12, y: m.top + (height - m.top - m.bottom) / 2, class: "axis-label",
      transform: `rotate(-90 12 ${m.top + (height - m.top - m.bottom) / 2})`, "text-anchor": "middle" }, axes)
      .textContent = options.yLabel;
  }

  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.t - b.t);
    const g = svgEl("g", { class: "series", "data-series": s.name }, svg);
    if (pts.length > 1) {
      svgEl("polyline", { points: pts.map((p) => `${x(p.t)},${y(p.y)}`).join(" "), fill: "none",
        stroke: color, "stroke-width": 2 }, g);
    }
    for (const p of pts) {
      const dot = svgEl("circle", { cx: x(p.t), cy: y(p.y), r: 4, fill: color, class: "point" }, g);
      svgEl("title", {}, dot).textContent = `${s.name}: ${p.y.toFixed(4)}\n${p.label || ""}`;
    }
  });

  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((s, i) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = PALETTE[i % PALETTE.length];
    li.append(swatch, document.createTextNode(s.name));
    legend.appendChild(li);
  });
  container.appendChild(legend);
  return svg;
}

// points: [{phrase, count, x, y}]; onPick(phrase) is called when a point is clicked.
function scatterMap(container, points, opts) {
  const options = Object.assign({ height: 520, labels: 80, onPick: null }, opts || {});
  container.textContent = "";
  const width = Math.max(320, container.clientWidth || 800);
  const height = options.height;
  const m = 24;
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": options.ariaLabel || "phrase map" }, container);
  if (points.length === 0) return svg;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const xl = Math.min(...xs), xh = Math.max(...xs), yl = Math.min(...ys), yh = Math.max(...ys);
  const sx = (v) => m + ((v - xl) / (xh - xl || 1)) * (width - 2 * m);
  const sy = (v) => height - m - ((v - yl) / (yh - yl || 1)) * (height - 2 * m);
  const maxCount = Math.max(...points.map((p) => p.count), 1);
  const radius = (c) => 2.5 + 4 * Math.sqrt(c / maxCount);

  const dots = svgEl("g", { class: "dots" }, svg);
  const labels = svgEl("g", { class: "labels" }, svg);
  // Label the most frequent points first; skip a label that would overlap one already placed.
  const placed = [];
  const byCount = points.map((p, i) => [p, i]).sort((a, b) => b[0].count - a[0].count);
  const labelled = new Map(); // point index -> text-anchor of its label
  for (const [p, i] of byCount) {
    if (labelled.size >= options.labels) break;
    // Right of the point, or left of it when that would leave the chart.
    const w = 6.5 * p.phrase.length, h = 12, ly = sy(p.y) - 4;
    const lx = sx(p.x) + 5 + w <= width ? sx(p.x) + 5 : sx(p.x) - 5 - w;
    const box = [lx, ly - h, lx + w, ly];
    if (box[0] < 0) continue;
    if (placed.some((b) => !(box[2] < b[0] || box[0] > b[2] || box[3] < b[1] || box[1] > b[3]))) continue;
    placed.push(box);
    labelled.set(i, box[0] === sx(p.x) + 5 ? "start" : "end");
  }
  points.forEach((p, i) => {
    const dot = svgEl("circle", { cx: sx(p.x), cy: sy(p.y), r: radius(p.count), class: "map-point",
      "data-phrase": p.phrase }, dots);
    svgEl("title", {}, dot).textContent = `${p.phrase} (${p.count})`;
    if (options.onPick) dot.addEventListener("click", () => options.onPick(p.phrase));
    if (labelled.has(i)) {
      const anchor = labelled.get(i);
      const text = svgEl("text", { x: sx(p.x) + (anchor === "start" ? 5 : -5), y: sy(p.y) - 4,
        "text-anchor": anchor, class: "map-label", "data-phrase": p.phrase }, labels);
      text.textContent = p.phrase;
      if (options.onPick) text.addEventListener("click", () => options.onPick(p.phrase));
    }
  });
  return svg;
}

function highlightMap(container, phrases, query) {
  const wanted = new Set(phrases);
  for (const el of container.querySelectorAll("[data-phrase]")) {
    const phrase = el.getAttribute("data-phrase");
    el.classList.toggle("hit", wanted.has(phrase));
    el.classList.toggle("query", phrase === query);
  }
}

window.mmweCharts = { lineChart, scatterMap, highlightMap };
