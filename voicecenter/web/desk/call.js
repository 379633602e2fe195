// Offers (calls and chats) and the call in progress with its controls.

import { api } from "/ui/common/api.js";
import { $, act, notice, show } from "./dom.js";

const path = (id) => `/calls/${encodeURIComponent(id)}`;

export class CallPanel {
  constructor(desk) {
    this.desk = desk; // agent, phone, socket, loadContext(), refresh()
    this.offer = null;
    this.call = null;
    this.consulting = null;
    this.recordingPaused = false;
    this.timer = setInterval(() => this.tick(), 1000);
    $("offer-accept").addEventListener("click", () => this.accept());
    $("offer-reject").addEventListener("click", () => this.reject());
    $("hold").addEventListener("click", () => this.control("Hold", "hold/start", () => {
      this.call.held = true;
    }));
    $("resume").addEventListener("click", () => this.control("Resume", "hold/stop", () => {
      this.call.held = false;
    }));
    $("record-pause").addEventListener("click", () => this.control(
      "Pause recording", "record/pause", () => { this.recordingPaused = true; }));
    $("record-resume").addEventListener("click", () => this.control(
      "Resume recording", "record/resume", () => { this.recordingPaused = false; }));
    $("transfer").addEventListener("click", () => this.transfer());
    $("consult").addEventListener("click", () => this.consult());
    $("consult-complete").addEventListener("click", () => this.completeTransfer());
    $("consult-cancel").addEventListener("click", () => this.control(
      "Cancel transfer", "transfer/cancel", () => { this.consulting = null; }));
    $("conference").addEventListener("click", () => this.conference());
    $("hangup").addEventListener("click", () => act("Hang up", () => this.desk.phone.hangup()));
  }

  // -- offers ---------------------------------------------------------------
  showOffer(frame) {
    const voice = frame.channel === "voice";
    this.offer = { channel: frame.channel, id: voice ? frame.interaction : frame.conversation,
      callId: frame.call_id, from: voice ? frame.from : frame.address };
    $("offer-channel").textContent = voice ? "call" : frame.channel;
    $("offer-from").textContent = this.offer.from || "unknown";
    $("offer-hint").textContent = voice && !this.desk.phone.softphone
      ? "Your desk phone is ringing: pick it up, or reject." : "";
    $("offer").dataset.interaction = this.offer.id;
    this.render();
    this.desk.loadContext(this.offer.id);
  }

  clearOffer(id) {
    if (this.offer && (!id || this.offer.id === id)) this.offer = null;
    this.render();
  }

  async accept() {
    const offer = this.offer;
    if (!offer) return;
    if (offer.channel !== "voice") {
      this.desk.socket.send({ type: "accept", conversation: offer.id });
      return;
    }
    offer.accepted = true; // the browser phone answers as soon as the call rings there
    const answered = await act("Accept", () => this.desk.phone.accept());
    if (answered) $("offer-hint").textContent = "Answering...";
    else if (this.desk.phone.softphone) $("offer-hint").textContent = "Answering when it rings...";
    else {
      $("offer-hint").textContent = "Pick up your desk phone.";
      notice("Pick up your phone: the call is ringing there.");
    }
  }

  // The browser phone rings: answer it if the agent already accepted the offer.
  incoming() {
    if (this.offer && this.offer.accepted) act("Answer", () => this.desk.phone.accept());
    this.render();
  }

  async reject() {
    const offer = this.offer;
    if (!offer) return;
    if (offer.channel !== "voice") {
      this.desk.socket.send({ type: "decline", conversation: offer.id });
      this.clearOffer(offer.id);
      return;
    }
    const done = await act("Reject", () => api("POST",
      `/agents/${encodeURIComponent(this.desk.agent)}/offers/${encodeURIComponent(offer.id)}/reject`));
    if (done) {
      notice("Call rejected: it goes to another agent.");
      this.clearOffer(offer.id);
    }
  }

  // -- the call ---------------------------------------------------------------
  connected(frame) {
    this.clearOffer();
    this.call = { id: frame.call_id, interaction: frame.interaction, from: frame.from,
      since: frame.since ? frame.since * 1000 : Date.now(), held: Boolean(frame.held) };
    this.consulting = null;
    this.recordingPaused = false;
    this.render();
    if (frame.interaction) this.desk.loadContext(frame.interaction);
  }

  ended(frame) {
    if (frame && this.offer && this.offer.callId === frame.call_id) this.clearOffer();
    if (!this.call || (frame && frame.call_id && frame.call_id !== this.call.id)) return;
    this.call = null;
    this.consulting = null;
    this.render();
    this.desk.refresh();
  }

  async control(what, action, after) {
    if (!this.call) return;
    const done = await act(what, () => api("POST", `${path(this.call.id)}/${action}`));
    if (done) {
      after(done);
      this.render();
    }
  }

  target() {
    const to = $("transfer-to").value.trim();
    if (!to) notice("Type the agent's name first.", "error");
    return to;
  }

  async transfer() {
    const to = this.target();
    if (!to || !this.call) return;
    $("call-status").textContent = `transferring to ${to}...`;
    const done = await act("Transfer", () => api("POST", `${path(this.call.id)}/transfer`, { to }));
    if (done) {
      notice(`Transferred to ${to}.`);
      this.ended({ call_id: this.call.id });
    } else this.render();
  }

  async consult() {
    const to = this.target();
    if (!to || !this.call) return;
    $("call-status").textContent = `calling ${to}...`;
    const done = await act("Consult", () => api("POST", `${path(this.call.id)}/transfer/attended`,
      { to }));
    if (done) this.consulting = to;
    this.render();
  }

  async completeTransfer() {
    if (!this.call) return;
    const done = await act("Complete transfer", () => api("POST",
      `${path(this.call.id)}/transfer/complete`));
    if (done) {
      notice(`Transferred to ${done.agent || this.consulting}.`);
      this.ended({ call_id: this.call.id });
    }
  }

  async conference() {
    const to = this.target();
    if (!to || !this.call) return;
    const done = await act("Conference", () => api("POST", `${path(this.call.id)}/conference`,
      { with: to }));
    if (done) notice(`${to} joined the call.`);
  }

  tick() {
    if (!this.call) return;
    const seconds = Math.max(0, Math.round((Date.now() - this.call.since) / 1000));
    $("call-timer").textContent =
      `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  render() {
    show($("offer"), Boolean(this.offer));
    const call = this.call;
    show($("call"), Boolean(call));
    if (call) {
      $("call").dataset.callId = call.id;
      $("call-from").textContent = call.from || "unknown";
      $("call-status").textContent = call.held ? "on hold" : "connected";
      $("call-status").dataset.held = String(call.held);
      show($("hold"), !call.held);
      show($("resume"), call.held);
      show($("record-pause"), !this.recordingPaused);
      show($("record-resume"), this.recordingPaused);
      show($("hangup"), Boolean(this.desk.phone.softphone && this.desk.phone.inCall));
      show($("consulting"), Boolean(this.consulting));
      $("consult-with").textContent = this.consulting || "";
      this.tick();
    }
    this.desk.layout();
  }
}

