// Created vs resolved per day: two lines on one SVG, scaled to the busiest day.

import { shortDay } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 600;
const H = 240;
const PAD = { left: 36, right: 12, top: 12, bottom: 28 };

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTop(max) {
  if (max <= 4) return 4;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= max) return m * step;
  return max;
}

export function drawChart(svg, buckets) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const created = buckets.map((b) => b.created);
  const resolved = buckets.map((b) => b.resolved);
  svg.dataset.created = String(created.reduce((a, b) => a + b, 0));
  svg.dataset.resolved = String(resolved.reduce((a, b) => a + b, 0));
  const top = niceTop(Math.max(0, ...created, ...resolved));
  const n = Math.max(buckets.length - 1, 1);
  const x = (i) => PAD.left + ((W - PAD.left - PAD.right) * i) / n;
  const y = (v) => H - PAD.bottom - ((H - PAD.top - PAD.bottom) * v) / top;

  for (const v of [0, top / 2, top]) {
    svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: PAD.left - 6, y: y(v) + 4, class: "tick y" }, String(v)));
  }
  buckets.forEach((b, i) => {
    if ((buckets.length - 1 - i) % 7 === 0) {
      // The newest label sits at the right edge: anchor it there so it is not cut off.
      const cls = i === buckets.length - 1 ? "tick x last" : "tick x";
      svg.append(el("text", { x: x(i), y: H - 8, class: cls }, shortDay(b.start)));
    }
  });
  for (const [name, values] of [
    ["created", created],
    ["resolved", resolved],
  ]) {
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(el("polyline", { points, class: `series ${name}`, "data-testid": `chart-${name}` }));
  }
}
