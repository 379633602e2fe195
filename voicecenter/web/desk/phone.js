// The agent's phone as the desk sees it: the browser softphone
// (/ui/common/softphone.js over SIP WebSocket) or a desk/desktop phone the
// agent picks up by hand. Accept answers the browser's ringing call; with a
// desk phone there is nothing to answer here.

import { api } from "/ui/common/api.js";

const MODE_KEY = "voicecenter.desk.phone";

export class DeskPhone {
  constructor(agent, { onStatus, onIncoming, onEnded }) {
    this.agent = agent;
    this.onStatus = onStatus;
    this.onIncoming = onIncoming;
    this.onEnded = onEnded;
    this.mode = localStorage.getItem(MODE_KEY) || "browser";
    this.softphone = null;
    this.ringing = false;
    this.inCall = false;
  }

  async setMode(mode) {
    this.mode = mode;
    localStorage.setItem(MODE_KEY, mode);
    await this.stop();
    if (mode === "browser") await this.start();
    else this.onStatus("desk phone: pick it up when it rings");
  }

  async start(password) {
    if (this.mode !== "browser") {
      this.onStatus("desk phone: pick it up when it rings");
      return;
    }
    let Softphone;
    try {
      ({ Softphone } = await import("/ui/common/softphone.js"));
    } catch {
      this.onStatus("no browser phone on this server: use a desk phone");
      return;
    }
    let config;
    try {
      config = await api("GET", "/softphone/config");
    } catch (error) {
      this.onStatus(`browser phone unavailable: ${error.message}`);
      return;
    }
    // The agent may have picked the desk phone while this was loading.
    if (this.mode !== "browser" || this.softphone) return;
    // The login page keeps an agent's password for the phone (the SIP password).
    const secret = password || sessionStorage.getItem("voicecenter.sip");
    if (!secret) {
      this.onStatus("browser phone needs your password");
      return "password";
    }
    if (password) sessionStorage.setItem("voicecenter.sip", password);
    const phone = new Softphone({ wsUrl: config.ws_url, uri: `sip:${this.agent}@${config.domain}`,
      password: secret, displayName: this.agent });
    this.softphone = phone;
    // A phone that was stopped (the agent switched to a desk phone) still says
    // "unregistered" on its way out: only the current phone may set the status.
    const status = (text) => { if (this.softphone === phone) this.onStatus(text); };
    phone.on("registered", () => status("browser phone ready"));
    phone.on("unregistered", () => status("browser phone not registered"));
    phone.on("failed", ({ scope, cause }) => {
      if (scope === "registration") status(`browser phone not registered: ${cause}`);
    });
    phone.on("incoming", (call) => { this.ringing = true; this.onIncoming(call); });
    phone.on("connected", () => { this.ringing = false; this.inCall = true; });
    phone.on("ended", () => { this.ringing = false; this.inCall = false; this.onEnded(); });
    this.onStatus("browser phone starting");
    phone.start();
    return "started";
  }

  // Accept the offer: answer the ringing browser call; true when answered here.
  async accept() {
    if (this.softphone && this.ringing) {
      await this.softphone.answer();
      return true;
    }
    return false;
  }

  async hangup() {
    if (this.softphone && (this.inCall || this.ringing)) await this.softphone.hangup();
  }

  async stop() {
    const phone = this.softphone;
    this.softphone = null;
    if (phone && typeof phone.stop === "function") await phone.stop();
  }
}
