// The desk socket: /agents/{name}/desk/ws, reconnecting with backoff.
// While it is open the server counts the desk as open (closing every desk
// sets the agent away, see distribution/presence.py).

export class DeskSocket {
  constructor(agent, token, { onFrame, onStatus }) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}` +
      `/agents/${encodeURIComponent(agent)}/desk/ws?token=${encodeURIComponent(token)}`;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.delay = 500;
    this.ws = null;
    this.closed = false;
  }

  start() {
    this.closed = false;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => { this.delay = 500; this.onStatus(true); });
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      this.onFrame(frame);
    });
    ws.addEventListener("close", () => {
      this.onStatus(false);
      if (this.closed) return;
      setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  stop() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}
