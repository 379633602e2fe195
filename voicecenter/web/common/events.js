// Live events for the pages: one WebSocket to /events/ws that reconnects by itself
// and resumes after the last event it delivered, so a page sees every event once,
// in order, across network blips and server restarts (docs/page-events.md).
//
//   const feed = connectEvents({
//     onEvent(frame) { ... },           // {type:"event", seq, kind, at, call_id, ...}
//     onStatus(status) { ... },         // "connecting" | "live" | "offline"
//     onReset(frame) { reload() },      // missed events cannot be replayed: reload over REST
//   });
//   feed.close();
import { api, session } from "./api.js";

const PING_MS = 15000;      // a ping this often...
const SILENCE_MS = 40000;   // ...and a socket silent this long is dead: reconnect
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

export function connectEvents({ onEvent = () => {}, onStatus = () => {}, onReset = () => {},
                                since = null } = {}) {
  let lastSeq = since;     // the last seq delivered to onEvent (null: start live)
  let socket = null;
  let stopped = false;
  let failures = 0;
  let retryTimer = null;
  let pingTimer = null;
  let heardAt = 0;
  let status = null;

  function report(next) {
    if (next !== status) {
      status = next;
      onStatus(next);
    }
  }

  function url(token) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ token });
    if (lastSeq !== null) query.set("since", String(lastSeq));
    return `${scheme}//${location.host}/events/ws?${query}`;
  }

  function open() {
    retryTimer = null;
    if (stopped) return;
    const found = session();
    if (!found) {
      report("offline");
      api("GET", "/auth/me").catch(() => {});  // sends the page to the login page
      return;
    }
    report("connecting");
    let greeted = false;
    const ws = new WebSocket(url(found.token));
    socket = ws;
    // A message holds one frame per line (what queued up while the socket was busy).
    ws.onmessage = (message) => {
      heardAt = Date.now();
      for (const line of String(message.data).split("\n")) handle(line);
    };
    const handle = (line) => {
      let frame;
      try { frame = JSON.parse(line); } catch (_) { return; }
      if (frame.type === "hello") {
        greeted = true;
        failures = 0;
        if (lastSeq === null) lastSeq = frame.seq;
        report("live");
      } else if (frame.type === "event") {
        if (lastSeq !== null && frame.seq <= lastSeq) return;  // seen before a reconnect
        lastSeq = frame.seq;
        onEvent(frame);
      } else if (frame.type === "reset") {
        lastSeq = frame.seq;
        onReset(frame);
      }
    };
    ws.onopen = () => {
      heardAt = Date.now();
      clearInterval(pingTimer);
      pingTimer = setInterval(() => {
        if (Date.now() - heardAt > SILENCE_MS) { ws.close(); return; }
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping" }));
      }, PING_MS);
    };
    ws.onclose = (event) => {
      clearInterval(pingTimer);
      if (socket === ws) socket = null;
      if (stopped) return;
      report("offline");
      if (event.code === 4401 || !greeted) {
        // Refused or logged out: api() sends the page to the login page on a 401.
        api("GET", "/auth/me").catch(() => {});
      }
      failures += 1;
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(failures - 1, 8));
      const delay = event.code === 4008 ? 0 : ceiling / 2 + Math.random() * ceiling / 2;
      retryTimer = setTimeout(open, delay);
    };
  }

  function reconnectNow() {
    if (!stopped && socket === null && retryTimer !== null) {
      clearTimeout(retryTimer);
      open();
    }
  }
  window.addEventListener("online", reconnectNow);
  open();

  return {
    get lastSeq() { return lastSeq; },
    get status() { return status; },
    close() {
      stopped = true;
      window.removeEventListener("online", reconnectNow);
      clearTimeout(retryTimer);
      clearInterval(pingTimer);
      if (socket) socket.close(1000, "page closed");
      report("offline");
    },
  };
}
