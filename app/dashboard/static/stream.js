// Live events from /v1/events/stream. EventSource cannot send an Authorization
// header, so this reads the stream with fetch() and parses Server-Sent Events
// itself: it resumes with Last-Event-ID after a drop and reconnects with
// exponential backoff (the server also ends streams after a while on purpose).

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// Feeds decoded text in; calls onFrame for each complete frame (the SSE rules:
// lines end with CR, LF or CRLF; a blank line ends a frame; ":" starts a comment).
export function frameParser(onFrame) {
  let buffer = "";
  let frame = { id: null, event: null, data: [], retry: null };
  function line(text) {
    if (text === "") {
      if (frame.data.length || frame.event || frame.id !== null || frame.retry !== null) {
        onFrame({ ...frame, data: frame.data.join("\n") });
      }
      frame = { id: null, event: null, data: [], retry: null };
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const name = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "id") frame.id = value;
    else if (name === "event") frame.event = value;
    else if (name === "data") frame.data.push(value);
    else if (name === "retry" && /^\d+$/.test(value)) frame.retry = Number(value);
  }
  return function push(text) {
    buffer += text;
    let match;
    while ((match = /\r\n|\r|\n/.exec(buffer)) !== null) {
      // A lone CR at the very end may be the first half of CRLF: wait for more.
      if (match[0] === "\r" && match.index === buffer.length - 1) break;
      line(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
  };
}

export function openStream({ url, token, onEvent, onStatus, onAuthError }) {
  const stop = new AbortController();
  let lastId = null;
  let delay = MIN_DELAY_MS;

  async function readOnce() {
    const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const response = await fetch(url, { headers, cache: "no-store", signal: stop.signal });
    if (response.status === 401 || response.status === 403) {
      onAuthError(response.status);
      return false;
    }
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    onStatus("live");
    delay = MIN_DELAY_MS;
    const push = frameParser((frame) => {
      if (frame.retry !== null) delay = Math.max(MIN_DELAY_MS, frame.retry);
      if (frame.id !== null && frame.id !== "") lastId = frame.id;
      if (frame.event && frame.data) {
        try {
          onEvent({ id: frame.id, kind: frame.event, data: JSON.parse(frame.data) });
        } catch (err) {
          console.warn("unreadable event", err);
        }
      }
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return true;
      push(value);
    }
  }

  (async () => {
    while (!stop.signal.aborted) {
      let again = true;
      try {
        again = await readOnce();
      } catch (err) {
        if (stop.signal.aborted) break;
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
      if (!again || stop.signal.aborted) break;
      onStatus("reconnecting");
      // Jitter spreads reconnects when a server restart drops every client at once.
      await sleep(delay * (0.75 + Math.random() * 0.5), stop.signal);
    }
    onStatus("off");
  })();

  return { close: () => stop.abort() };
}
