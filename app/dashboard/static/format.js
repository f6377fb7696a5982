// How figures are written on the page. A missing figure (no tickets to base it
// on) is a dash, never a zero.

const DASH = "–";

export function count(n) {
  return n === null || n === undefined ? DASH : Number(n).toLocaleString("en");
}

export function rate(x) {
  return x === null || x === undefined ? DASH : `${(x * 100).toFixed(1)} %`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export function clock(iso) {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? "" : t.toLocaleTimeString("en-GB", { hour12: false });
}

export function shortDay(iso) {
  // Bucket starts carry the office's local offset; the date part is the local day.
  return iso.slice(5, 10);
}

export function figure(kind, value) {
  if (kind === "rate") return rate(value);
  if (kind === "duration") return duration(value);
  return count(value);
}

export function words(kind) {
  // "ticket.in_progress" -> "in progress"
  return kind.replace(/^ticket\./, "").replaceAll("_", " ");
}
