// A browser softphone for agents: JsSIP registered to the SIP edge over WebSocket.
//
//   import { Softphone } from "/ui/common/softphone.js";
//   const phone = new Softphone({ wsUrl, uri, password, displayName });
//   phone.on("incoming", ({ id, from, display }) => phone.answer());
//   phone.start();
//
// Events (phone.on(name, fn); fn gets one object):
//   registered {}          the edge accepted the registration: calls can come
//   unregistered {cause}   no longer registered (stopped, connection lost)
//   failed {scope, cause}  scope "registration" (wrong password, edge down) or
//                          "call" (a call that never connected); a failed call
//                          is followed by "ended"
//   incoming {id, from, display}   a call rings; answer() or reject()
//   ringing {id}           an outgoing call rings at the other end
//   connected {id}         media flows both ways
//   held {id} / resumed {id}
//   ended {id, cause, connected}   every call ends with exactly one of these
//
// One call at a time, as a contact-center agent has: another call that
// arrives meanwhile is refused with 486 Busy Here.
//
// The edge relays browser media through rtpengine (DTLS-SRTP and ICE on this
// side), so no STUN or TURN server is configured. Echo cancellation, noise
// suppression and automatic gain are off by default, because a headset needs
// none of them and they flatten tones and music; pass audioProcessing: true
// for loudspeaker use.

import JsSIP from "../vendor/jssip.min.js";

const NO_PROCESSING = { echoCancellation: false, noiseSuppression: false,
                        autoGainControl: false };

export class Softphone {
  /**
   * @param {object} options
   * @param {string} options.wsUrl        e.g. ws://127.0.0.1:8088/ws (GET /softphone/config)
   * @param {string} options.uri          the agent's SIP URI, sip:NAME@DOMAIN
   * @param {string} options.password     the agent's SIP password
   * @param {string} [options.displayName]
   * @param {HTMLAudioElement} [options.audioElement]  plays the other side; one is made if absent
   * @param {boolean} [options.audioProcessing=false]  browser echo cancellation etc.
   * @param {boolean} [options.stopOnPageHide=true]    unregister and hang up when the page goes
   */
  constructor({ wsUrl, uri, password, displayName = "", audioElement = null,
                audioProcessing = false, stopOnPageHide = true }) {
    if (!wsUrl || !uri || !password) {
      throw new Error("Softphone needs wsUrl, uri and password");
    }
    this.options = { wsUrl, uri, password, displayName, audioProcessing, stopOnPageHide };
    this.audio = audioElement;
    this.ua = null;
    this.session = null;
    this.registered = false;
    this.handlers = new Map();
    this.pageHide = () => this.stop();
  }

  /** Listen to an event (see the list above); returns a function that stops listening. */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return () => this.handlers.get(event)?.delete(fn);
  }

  emit(event, detail = {}) {
    for (const fn of this.handlers.get(event) ?? []) {
      try {
        fn(detail);
      } catch (error) {
        console.error(`softphone: "${event}" handler failed`, error);
      }
    }
  }

  /** Connect and register; "registered" or failed {scope: "registration"} follows. */
  start() {
    if (this.ua) return;
    const { wsUrl, uri, password, displayName } = this.options;
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    this.ua = new JsSIP.UA({
      sockets: [socket], uri, password, display_name: displayName || undefined,
      register: true, register_expires: 300,
      // the edge and the workers need no session refreshes; fewer re-INVITEs
      session_timers: false,
      user_agent: "voicecenter-softphone",
    });
    this.ua.on("registered", () => { this.registered = true; this.emit("registered"); });
    this.ua.on("unregistered", (e) => {
      this.registered = false;
      this.emit("unregistered", { cause: e?.cause ?? null });
    });
    this.ua.on("registrationFailed", (e) => {
      this.registered = false;
      this.emit("failed", { scope: "registration", cause: e.cause });
    });
    this.ua.on("disconnected", () => {
      if (this.registered) {
        this.registered = false;
        this.emit("unregistered", { cause: "connection lost" });
      }
    });
    this.ua.on("newRTCSession", (e) => this.onSession(e.session, e.originator));
    if (this.options.stopOnPageHide) window.addEventListener("pagehide", this.pageHide);
    this.ua.start();
  }

  /** Hang up, unregister and disconnect. */
  stop() {
    window.removeEventListener("pagehide", this.pageHide);
    if (!this.ua) return;
    const ua = this.ua;
    this.ua = null;
    ua.stop();  // ends the call (BYE/CANCEL) and unregisters
  }

  get busy() {
    return this.session !== null;
  }

  /** Answer the ringing call with the microphone. */
  answer() {
    const session = this.needSession();
    if (session.direction !== "incoming" || session.isEstablished()) {
      throw new Error("no ringing call to answer");
    }
    session.answer(this.callOptions());
  }

  /** Refuse the ringing call (486 Busy Here: the router offers it elsewhere). */
  reject() {
    const session = this.needSession();
    session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
  }

  /** End the call, whatever its state (CANCEL, reject or BYE). */
  hangup() {
    this.needSession().terminate();
  }

  hold() {
    this.needSession().hold();
  }

  unhold() {
    this.needSession().unhold();
  }

  /** Place a call: target is a number or a SIP URI; "ringing", "connected" follow. */
  call(target) {
    if (!this.ua || !this.registered) throw new Error("not registered");
    if (this.session) throw new Error("already on a call");
    this.ua.call(target, this.callOptions());
  }

  /** Send DTMF digits in the media (RFC 4733), as IVRs and the workers expect. */
  sendDtmf(digits) {
    this.needSession().sendDTMF(String(digits), { transportType: "RFC2833", duration: 120 });
  }

  /** Media figures of the call (RTCPeerConnection stats): packets and audio energy each way. */
  async stats() {
    const pc = this.session?.connection;
    if (!pc) return null;
    const figures = { packetsSent: 0, packetsReceived: 0, bytesReceived: 0,
                      audioEnergyReceived: 0, codec: null };
    const codecs = new Map();
    const report = await pc.getStats();
    report.forEach((s) => { if (s.type === "codec") codecs.set(s.id, s.mimeType); });
    report.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "audio") {
        figures.packetsSent += s.packetsSent ?? 0;
      } else if (s.type === "inbound-rtp" && s.kind === "audio") {
        figures.packetsReceived += s.packetsReceived ?? 0;
        figures.bytesReceived += s.bytesReceived ?? 0;
        figures.audioEnergyReceived += s.totalAudioEnergy ?? 0;
        figures.codec = codecs.get(s.codecId) ?? figures.codec;
      }
    });
    return figures;
  }

  // -- internals ---------------------------------------------------------

  needSession() {
    if (!this.session) throw new Error("no call");
    return this.session;
  }

  callOptions() {
    const audio = this.options.audioProcessing ? true : { ...NO_PROCESSING };
    return {
      mediaConstraints: { audio, video: false },
      pcConfig: { iceServers: [] },
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    };
  }

  onSession(session, originator) {
    if (this.session) {
      if (originator === "remote") {
        session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      }
      return;
    }
    this.session = session;
    const id = session.id;
    let connected = false;
    const attach = (pc) => {
      pc.addEventListener("track", (event) => this.play(event.streams[0] ??
                                                          new MediaStream([event.track])));
    };
    if (session.connection) attach(session.connection);
    session.on("peerconnection", (e) => attach(e.peerconnection));
    session.on("progress", () => {
      if (originator === "local") this.emit("ringing", { id });
    });
    session.on("confirmed", () => {
      if (connected) return;
      connected = true;
      this.emit("connected", { id });
    });
    session.on("hold", (e) => { if (e.originator === "local") this.emit("held", { id }); });
    session.on("unhold", (e) => { if (e.originator === "local") this.emit("resumed", { id }); });
    const finish = (cause, failed) => {
      if (this.session !== session) return;
      this.session = null;
      if (this.audio) this.audio.srcObject = null;
      if (failed) this.emit("failed", { scope: "call", id, cause });
      this.emit("ended", { id, cause, connected });
    };
    session.on("ended", (e) => finish(e.cause, false));
    session.on("failed", (e) => finish(e.cause, true));
    if (originator === "remote") {
      const from = session.remote_identity;
      this.emit("incoming", { id, from: from.uri.toString(), display: from.display_name || "" });
    }
  }

  play(stream) {
    if (!this.audio) {
      this.audio = document.createElement("audio");
      this.audio.hidden = true;
      document.body.append(this.audio);
    }
    this.audio.autoplay = true;
    this.audio.srcObject = stream;
    this.audio.play().catch(() => {
      // Autoplay refused until the user interacts: the answer click counts,
      // so this only happens for calls answered without a click.
    });
  }
}
