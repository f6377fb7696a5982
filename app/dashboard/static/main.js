// The dashboard: sign-in, periodic figures, the map, the chart, the ranking and
// the live event list. Every number shown comes from the /v1 API as it is.

import { AuthError, clearToken, getJSON, getToken, setToken } from "./api.js";
import { drawChart } from "./chart.js";
import { clock, count, duration, figure, rate, words } from "./format.js";
import { attachTooltip, colourMap, drawMap } from "./map.js";
import { openStream } from "./stream.js";

const POLL_MS = 15000;
const REFRESH_AFTER_EVENT_MS = 800;
const MAX_EVENTS = 50;

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const state = {
  mode: "backlog",
  offices: new Map(), // code -> figures of /v1/stats/offices
  rows: [],
  sort: { key: "name", dir: 1 },
  poll: null,
  stream: null,
  debounce: null,
};

// --- sign-in ------------------------------------------------------------------------

function showSignIn(message) {
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("signin").hidden = false;
  $("scope-name").textContent = "";
  const error = $("signin-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("token-input").focus();
}

function signOut(message) {
  clearTimeout(state.debounce);
  clearInterval(state.poll);
  state.poll = null;
  state.stream?.close();
  state.stream = null;
  clearToken();
  $("events").replaceChildren();
  $("events-empty").hidden = false;
  showSignIn(message);
}

async function start() {
  $("signin").hidden = true;
  try {
    await Promise.all([loadMap(), refresh()]);
  } catch (err) {
    failed(err);
    return;
  }
  $("board").hidden = false;
  $("sign-out").hidden = false;
  state.poll = setInterval(() => refresh().catch(failed), POLL_MS);
  state.stream = openStream({
    url: "/v1/events/stream",
    token: getToken,
    onEvent: addEvent,
    onStatus: setLive,
    onAuthError: () => signOut("Your token is no longer accepted. Please sign in again."),
  });
}

function failed(err) {
  if (err instanceof AuthError) signOut(err.message);
  else console.error(err);
}

// --- figures --------------------------------------------------------------------------

const FIGURES = {
  "figure-open": (s) => s.backlog.open,
  "figure-overdue": (s) => s.overdue,
  "figure-resolution-rate": (s) => s.resolution_rate,
  "figure-on-time-rate": (s) => s.on_time_rate,
  "figure-rework-rate": (s) => s.rework_rate,
  "figure-median-resolution": (s) => s.time_to_resolution_s.median,
};

function showSummary(summary) {
  const office = summary.scope.office;
  $("scope-name").textContent = office ? office.name : "All offices";
  for (const [id, pick] of Object.entries(FIGURES)) {
    const node = $(id);
    const value = pick(summary);
    node.dataset.value = value === null ? "" : String(value);
    node.querySelector(".value").textContent = figure(node.dataset.format, value);
  }
}

async function refresh() {
  const [summary, offices, series] = await Promise.all([
    getJSON("/v1/stats/summary"),
    getJSON("/v1/stats/offices"),
    getJSON("/v1/stats/timeseries?interval=day"),
  ]);
  showSummary(summary);
  state.rows = offices.items;
  state.offices = new Map(offices.items.map((i) => [i.office.code, i]));
  colourMap($("map-svg"), $("map-legend"), state.mode, state.offices);
  drawRanking();
  drawChart($("chart"), series.buckets);
}

function refreshSoon() {
  clearTimeout(state.debounce);
  state.debounce = setTimeout(() => refresh().catch(failed), REFRESH_AFTER_EVENT_MS);
}

// --- map ------------------------------------------------------------------------------

async function loadMap() {
  const collection = await getJSON("/v1/grids/boundaries");
  drawMap($("map-svg"), collection);
  $("map-empty").hidden = collection.features.length > 0;
  colourMap($("map-svg"), $("map-legend"), state.mode, state.offices);
}

function setMode(mode) {
  state.mode = mode;
  for (const b of document.querySelectorAll(".toggle button")) {
    b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
  }
  colourMap($("map-svg"), $("map-legend"), state.mode, state.offices);
}

// --- ranking --------------------------------------------------------------------------

const SORT_VALUE = {
  name: (r) => r.office.name,
  open: (r) => r.backlog.open,
  overdue: (r) => r.overdue,
  resolution_rate: (r) => r.resolution_rate,
  on_time_rate: (r) => r.on_time_rate,
  median_resolution: (r) => r.time_to_resolution_s.median,
};

function compareRows(a, b) {
  const pick = SORT_VALUE[state.sort.key];
  const [va, vb] = [pick(a), pick(b)];
  if (va === null && vb === null) return a.office.code.localeCompare(b.office.code);
  if (va === null) return 1; // missing figures last, whichever the direction
  if (vb === null) return -1;
  const c = typeof va === "string" ? va.localeCompare(vb) : va - vb;
  return c * state.sort.dir || a.office.code.localeCompare(b.office.code);
}

function cell(text, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "num";
  return td;
}

function drawRanking() {
  const rows = [...state.rows].sort(compareRows);
  const body = $("ranking").querySelector("tbody");
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.setAttribute("data-testid", "ranking-row");
      tr.dataset.code = r.office.code;
      tr.append(
        cell(r.office.name),
        cell(count(r.backlog.open), true),
        cell(count(r.overdue), true),
        cell(rate(r.resolution_rate), true),
        cell(rate(r.on_time_rate), true),
        cell(duration(r.time_to_resolution_s.median), true),
      );
      return tr;
    }),
  );
  for (const th of $("ranking").querySelectorAll("th")) {
    const key = th.querySelector("button").dataset.sort;
    if (key === state.sort.key) {
      th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
    } else th.removeAttribute("aria-sort");
  }
}

function sortBy(key) {
  // Figures start with the largest first; names alphabetically.
  if (state.sort.key === key) state.sort.dir = -state.sort.dir;
  else state.sort = { key, dir: key === "name" ? 1 : -1 };
  drawRanking();
}

// --- live events ----------------------------------------------------------------------

function setLive(status) {
  const node = $("live-status");
  node.dataset.state = status;
  node.textContent = { live: "live", reconnecting: "reconnecting…", off: "offline" }[status];
}

function addEvent(event) {
  const d = event.data;
  const li = document.createElement("li");
  li.setAttribute("data-testid", "event");
  li.dataset.id = event.id;
  li.dataset.kind = event.kind;
  li.dataset.ticket = String(d.ticket_id);
  const time = document.createElement("time");
  time.dateTime = d.at;
  time.textContent = clock(d.at);
  const what = document.createElement("span");
  what.className = `kind kind-${words(event.kind).replaceAll(" ", "-")}`;
  what.textContent = words(event.kind);
  const where = document.createElement("span");
  where.className = "where";
  where.textContent = `#${d.ticket_id} · ${d.category.replaceAll("_", " ")} · ${d.office.name}`;
  li.append(time, what, where);
  const list = $("events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  $("events-empty").hidden = true;
  refreshSoon();
}

// --- wiring ---------------------------------------------------------------------------

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
  if (!token) return;
  setToken(token);
  $("token-input").value = "";
  start();
});
$("sign-out").addEventListener("click", () => signOut(""));
for (const b of document.querySelectorAll(".toggle button")) {
  b.addEventListener("click", () => setMode(b.dataset.mode));
}
for (const b of $("ranking").querySelectorAll("th button")) {
  b.addEventListener("click", () => sortBy(b.dataset.sort));
}
attachTooltip($("map-svg"), $("map-tooltip"));

if (getToken()) start();
else showSignIn("");
