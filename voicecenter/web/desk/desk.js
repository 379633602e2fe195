// The agent desk: state, offers with the customer's context, the call in
// progress, chats and wrap-up. Frames come over the desk socket (offers,
// calls, chat lines); actions go to the REST API with the agent's token.

import { api, logout, requireLogin } from "/ui/common/api.js";
import { CallPanel } from "./call.js";
import { ChatPanel } from "./chat.js";
import { renderContext } from "./context.js";
import { $, act, el, notice, show } from "./dom.js";
import { DeskPhone } from "./phone.js";
import { DeskSocket } from "./socket.js";

const REFRESH_MS = 3000;

class Desk {
  constructor(session) {
    this.session = session;
    this.agent = session.user.agent;
    this.state = null;
    this.settings = { away_reasons: [], dispositions: [] };
    this.contextId = null;
    this.contextTimer = null;
    this.phone = new DeskPhone(this.agent, {
      onStatus: (status) => { $("phone-status").textContent = status; },
      onIncoming: () => this.calls.incoming(),
      onEnded: () => this.calls.render(),
    });
    this.socket = new DeskSocket(this.agent, session.token, {
      onFrame: (frame) => this.onFrame(frame),
      onStatus: (up) => {
        $("link").dataset.up = String(up);
        $("link").textContent = up ? "connected" : "reconnecting";
        if (up) this.refresh();
      },
    });
    this.calls = new CallPanel(this);
    this.chats = new ChatPanel(this);
  }

  async start() {
    $("agent-name").textContent = this.agent;
    this.settings = await api("GET", "/desk/settings");
    $("away-reason").replaceChildren(...this.settings.away_reasons.map((r) =>
      el("option", { value: r }, r)));
    const codes = this.settings.dispositions;
    $("disposition").replaceChildren(...codes.map((c) => el("option", { value: c }, c)));
    show($("disposition"), codes.length > 0);
    show($("disposition-text"), codes.length === 0);
    $("go-available").addEventListener("click", () => this.setState("available"));
    $("go-away").addEventListener("click", () => this.setState("away", $("away-reason").value));
    $("go-offline").addEventListener("click", () => this.setState("offline"));
    $("wrapup").addEventListener("submit", (event) => { event.preventDefault(); this.wrapUp(); });
    $("logout").addEventListener("click", async () => {
      await act("Log out", () => this.setState("offline"));
      this.socket.stop();
      await this.phone.stop();
      logout();
    });
    $("phone-mode").value = this.phone.mode;
    $("phone-mode").addEventListener("change", () => this.phone.setMode($("phone-mode").value));
    this.socket.start();
    await this.refresh();
    setInterval(() => this.refresh(), REFRESH_MS);
    const phoneStart = await this.phone.start();
    if (phoneStart === "password") this.askPassword();
  }

  askPassword() {
    const input = el("input", { type: "password", placeholder: "password", id: "sip-password",
      "aria-label": "Password for the browser phone" });
    const form = el("form", { class: "inline", onsubmit: async (event) => {
      event.preventDefault();
      form.remove();
      await this.phone.start(input.value);
    } }, input, el("button", { type: "submit" }, "Connect phone"));
    $("phone-status").after(form);
  }

  onFrame(frame) {
    if (this.chats.onFrame(frame)) return;
    switch (frame.type) {
      case "hello": this.chats.restore(frame.conversations || []); break;
      case "offer": this.calls.showOffer(frame); break;
      case "offer_withdrawn":
        this.calls.clearOffer(frame.interaction);
        if (frame.reason === "missed") notice("The call stopped ringing (missed).");
        this.refresh();
        break;
      case "call":
        if (frame.state === "connected") this.calls.connected(frame);
        else this.calls.ended(frame);
        this.refresh();
        break;
      case "escalation":
        if (frame.state === "connected") {
          this.calls.connected({ call_id: frame.call_id, interaction: frame.conversation,
            from: frame.to });
        } else if (frame.state === "ended") this.calls.ended({ call_id: frame.call_id });
        break;
      case "call_requested": notice("The customer asks for a call."); break;
      case "state": this.refresh(); break;
      case "error": notice(frame.message || frame.error, "error"); break;
      default: break;
    }
    if (frame.conversation && frame.conversation === this.contextId &&
        ["message", "sent"].includes(frame.type)) this.reloadContextSoon();
  }

  async setState(state, reason) {
    const body = reason ? { state, reason } : { state };
    const view = await act(`Set ${state}`, () => api("PUT",
      `/agents/${encodeURIComponent(this.agent)}/state`, body));
    if (view) this.showState(view);
    return view;
  }

  async refresh() {
    let view;
    try {
      view = await api("GET", `/agents/${encodeURIComponent(this.agent)}/desk`);
    } catch (error) {
      $("link").textContent = `server: ${error.message}`;
      return;
    }
    this.showState(view.agent);
    if (view.offer && !this.calls.offer && !this.calls.call) this.calls.showOffer(view.offer);
    if (!view.offer && this.calls.offer && this.calls.offer.channel === "voice") {
      this.calls.clearOffer();
    }
    if (view.call && (!this.calls.call || this.calls.call.id !== view.call.call_id)) {
      this.calls.connected(view.call);
    }
  }

  showState(agent) {
    this.state = agent.state;
    $("state").textContent = agent.state.replace("_", "-");
    $("state").dataset.state = agent.state;
    $("state-reason").textContent = agent.reason ? `(${agent.reason})` : "";
    show($("wrapup"), agent.state === "wrap_up");
    this.layout();
  }

  async wrapUp() {
    const codes = this.settings.dispositions;
    const disposition = codes.length ? $("disposition").value
      : $("disposition-text").value.trim() || null;
    const done = await act("Wrap-up", () => api("POST",
      `/agents/${encodeURIComponent(this.agent)}/wrap_up`,
      { disposition, notes: $("notes").value }));
    if (done) {
      $("notes").value = "";
      $("disposition-text").value = "";
      notice("Wrap-up saved.");
      this.showState(done);
    }
  }

  async loadContext(id) {
    this.contextId = id;
    try {
      const context = await api("GET",
        `/agents/${encodeURIComponent(this.agent)}/interactions/${encodeURIComponent(id)}`);
      if (this.contextId === id) renderContext(context);
    } catch (error) {
      if (this.contextId === id) notice(`Customer context: ${error.message}`, "error");
    }
  }

  reloadContextSoon() {
    clearTimeout(this.contextTimer);
    this.contextTimer = setTimeout(() => this.contextId && this.loadContext(this.contextId), 500);
  }

  layout() {
    const busy = Boolean(this.calls && (this.calls.offer || this.calls.call)) ||
      this.state === "wrap_up";
    show($("idle"), !busy);
  }
}

const session = requireLogin("agent");
if (session) {
  const desk = new Desk(session);
  window.voicecenterDesk = desk; // for debugging from the console
  desk.start().catch((error) => notice(`The desk did not start: ${error.message}`, "error"));
}
