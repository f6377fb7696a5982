// The office map: GeoJSON polygons drawn as SVG paths. Equirectangular with the
// longitude scaled by cos(latitude) at the map's centre, which is true to shape
// at city scale, and needs no tiles or map library.

import { count, rate } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const SIZE = 1000; // long side of the viewBox, in user units

// ColorBrewer sequential schemes (colour-blind safe): light = little, dark = much.
export const MODES = {
  backlog: {
    title: "Open tickets",
    colours: ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"],
    value: (item) => (item ? item.backlog.open : null),
    format: count,
  },
  on_time: {
    title: "On-time rate",
    colours: ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"],
    value: (item) => (item ? item.on_time_rate : null),
    format: rate,
  },
};
const NO_DATA = "#e0e0e0";

function bounds(collection) {
  if (collection.bbox) return collection.bbox;
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const f of collection.features) {
    for (const poly of f.geometry.coordinates) {
      for (const [x, y] of poly[0]) {
        w = Math.min(w, x);
        e = Math.max(e, x);
        s = Math.min(s, y);
        n = Math.max(n, y);
      }
    }
  }
  return [w, s, e, n];
}

function projection([w, s, e, n]) {
  const k = Math.cos((((s + n) / 2) * Math.PI) / 180);
  const width = Math.max((e - w) * k, 1e-9);
  const height = Math.max(n - s, 1e-9);
  const scale = SIZE / Math.max(width, height);
  return {
    width: width * scale,
    height: height * scale,
    point: ([lon, lat]) => [((lon - w) * k * scale).toFixed(1), ((n - lat) * scale).toFixed(1)],
  };
}

function pathData(geometry, project) {
  const parts = [];
  for (const polygon of geometry.coordinates) {
    for (const ring of polygon) {
      parts.push("M" + ring.map((c) => project(c).join(" ")).join("L") + "Z");
    }
  }
  return parts.join("");
}

// Classes, as [lower, upper] bounds per colour. Rates: five equal steps of 0–100 %,
// so a colour always means the same rate. Counts: 0 on its own (nothing open is
// the news), then up to four whole-number steps up to the largest backlog.
function classes(mode, values) {
  const { colours } = MODES[mode];
  if (mode === "on_time") {
    return colours.map((c, i) => ({ lo: i / 5, hi: (i + 1) / 5, colour: c }));
  }
  const top = Math.max(0, ...values.filter((v) => v !== null));
  const step = Math.max(1, Math.ceil(top / 4));
  const out = [{ lo: 0, hi: 0 }];
  for (let lo = 1; lo <= Math.max(top, 1); lo += step) out.push({ lo, hi: lo + step - 1 });
  // Spread the palette over however many classes there are, darkest for the largest.
  const last = colours.length - 1;
  return out.map((k, i) => ({ ...k, colour: colours[Math.round((i * last) / (out.length - 1))] }));
}

function colour(breaks, v) {
  if (v === null || v === undefined) return NO_DATA;
  const k = breaks.find((b) => v <= b.hi) ?? breaks[breaks.length - 1];
  return k.colour;
}

export function drawMap(svg, collection) {
  svg.replaceChildren();
  const features = collection.features.filter((f) => f.geometry.coordinates.length);
  if (!features.length) return;
  const proj = projection(bounds(collection));
  svg.setAttribute("viewBox", `0 0 ${proj.width.toFixed(1)} ${proj.height.toFixed(1)}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  for (const f of features) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", pathData(f.geometry, proj.point));
    path.setAttribute("fill-rule", "evenodd");
    path.setAttribute("tabindex", "0");
    path.setAttribute("data-testid", "map-office");
    path.dataset.code = f.properties.code;
    path.dataset.name = f.properties.name;
    const title = document.createElementNS(SVG, "title");
    title.textContent = f.properties.name;
    path.append(title);
    svg.append(path);
  }
}

export function colourMap(svg, legend, mode, itemsByCode) {
  const paths = [...svg.querySelectorAll("path[data-testid=map-office]")];
  const values = paths.map((p) => MODES[mode].value(itemsByCode.get(p.dataset.code)));
  const breaks = classes(mode, values);
  paths.forEach((p, i) => {
    p.setAttribute("fill", colour(breaks, values[i]));
    p.dataset.value = values[i] === null ? "" : String(values[i]);
    p.dataset.label = MODES[mode].format(values[i]);
    p.querySelector("title").textContent = `${p.dataset.name}: ${p.dataset.label}`;
  });
  drawLegend(legend, mode, breaks);
}

function drawLegend(legend, mode, breaks) {
  const { title } = MODES[mode];
  const entries = breaks.map(({ lo, hi, colour: c }) => {
    if (mode === "on_time") return [c, `${Math.round(lo * 100)}–${Math.round(hi * 100)} %`];
    return [c, lo === hi ? `${lo}` : `${lo}–${hi}`];
  });
  entries.push([NO_DATA, "no data"]);
  legend.replaceChildren();
  const head = document.createElement("span");
  head.className = "legend-title";
  head.textContent = title;
  legend.append(head);
  for (const [c, text] of entries) {
    const item = document.createElement("span");
    item.className = "legend-item";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    // CSSOM, not a style attribute: the page's CSP forbids inline styles.
    swatch.style.backgroundColor = c;
    item.append(swatch, document.createTextNode(text));
    legend.append(item);
  }
}

// Hover (mouse), focus (keyboard) and tap (touch) all show the same tooltip.
export function attachTooltip(svg, tooltip) {
  function show(path, x, y) {
    tooltip.textContent = `${path.dataset.name} · ${path.dataset.label ?? ""}`;
    tooltip.hidden = false;
    const box = svg.parentElement.getBoundingClientRect();
    tooltip.style.left = `${Math.min(x - box.left + 12, box.width - tooltip.offsetWidth - 4)}px`;
    tooltip.style.top = `${Math.max(y - box.top - tooltip.offsetHeight - 8, 4)}px`;
  }
  svg.addEventListener("pointermove", (e) => {
    if (e.target.dataset?.code) show(e.target, e.clientX, e.clientY);
  });
  svg.addEventListener("pointerdown", (e) => {
    if (e.target.dataset?.code) show(e.target, e.clientX, e.clientY);
    else tooltip.hidden = true;
  });
  svg.addEventListener("pointerleave", () => {
    tooltip.hidden = true;
  });
  svg.addEventListener("focusin", (e) => {
    const r = e.target.getBoundingClientRect();
    show(e.target, r.left + r.width / 2, r.top + r.height / 2);
  });
  svg.addEventListener("focusout", () => {
    tooltip.hidden = true;
  });
}
