// The standalone softphone page: an agent's name and password are all it needs.
// It logs in (the agent's password is also their SIP password), asks the server
// where the SIP edge's WebSocket is (GET /softphone/config) and registers there.
import { session, saveSession } from "/ui/common/api.js";
import { Softphone } from "/ui/common/softphone.js";

const $ = (id) => document.getElementById(id);
let phone = null;
let mediaTimer = null;

function log(text) {
  const line = `${new Date().toLocaleTimeString()} ${text}\n`;
  $("log").textContent = (line + $("log").textContent).slice(0, 8000);
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function setCall(state, text) {
  $("call-state").dataset.state = state;
  $("call-state").textContent = text;
  const ringing = state === "incoming";
  const live = state === "connected" || state === "held";
  $("answer").disabled = !ringing;
  $("reject").disabled = !ringing;
  $("hangup").disabled = !(ringing || live || state === "calling" || state === "ringing");
  $("hold").disabled = state !== "connected";
  $("unhold").disabled = state !== "held";
  $("call").disabled = !(phone && phone.registered) || state !== "idle";
  for (const key of document.querySelectorAll("#keypad button")) key.disabled = !live;
}

async function jsonOf(response) {
  const text = await response.text();
  try { return text ? JSON.parse(text) : null; } catch (_) { return { message: text }; }
}

// The WebSocket URL and domain: typed in, or from the server after logging in.
async function serverSettings(name, password) {
  const wsUrl = $("ws-url").value.trim();
  const domain = $("domain").value.trim();
  if (wsUrl && domain) return { ws_url: wsUrl, domain };
  let found = session();
  if (!found || found.user.agent !== name) {
    const answer = await fetch("/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, password }) });
    const body = await jsonOf(answer);
    if (!answer.ok) throw new Error(body?.message || `login failed (${answer.status})`);
    saveSession(body);
    found = body;
  }
  const answer = await fetch("/softphone/config", {
    headers: { Authorization: `Bearer ${found.token}`, Accept: "application/json" } });
  const body = await jsonOf(answer);
  if (!answer.ok) throw new Error(body?.message || `no softphone settings (${answer.status})`);
  $("ws-url").value = body.ws_url;
  $("domain").value = body.domain;
  return body;
}

async function register(event) {
  event.preventDefault();
  $("message").textContent = "";
  const name = $("name").value.trim();
  const password = $("password").value;
  let settings;
  try {
    settings = await serverSettings(name, password);
  } catch (error) {
    $("message").textContent = error.message;
    return;
  }
  phone?.stop();
  phone = new Softphone({ wsUrl: settings.ws_url, uri: `sip:${name}@${settings.domain}`,
                          password, displayName: name, audioElement: $("remote-audio") });
  window.voicecenterSoftphone = phone;  // for the browser's console
  phone.on("registered", () => {
    setStatus("registered", `registered as ${name}`);
    $("register").disabled = true;
    $("unregister").disabled = false;
    setCall("idle", "No call");
    log("registered");
  });
  phone.on("unregistered", ({ cause }) => {
    setStatus("idle", "not registered");
    $("register").disabled = false;
    $("unregister").disabled = true;
    log(`unregistered${cause ? ` (${cause})` : ""}`);
  });
  phone.on("failed", ({ scope, cause }) => {
    if (scope === "registration") {
      setStatus("failed", `registration failed: ${cause}`);
      $("register").disabled = false;
    }
    log(`${scope} failed: ${cause}`);
  });
  phone.on("incoming", ({ from, display }) => {
    setCall("incoming", `Incoming call from ${display || from}`);
    log(`incoming call from ${from}`);
  });
  phone.on("ringing", () => setCall("ringing", "Ringing..."));
  phone.on("connected", () => {
    setCall("connected", "Connected");
    log("connected");
    watchMedia();
  });
  phone.on("held", () => setCall("held", "On hold"));
  phone.on("resumed", () => setCall("connected", "Connected"));
  phone.on("ended", ({ cause }) => {
    setCall("idle", `Call ended (${cause})`);
    log(`call ended: ${cause}`);
    clearInterval(mediaTimer);
  });
  setStatus("registering", "registering...");
  $("register").disabled = true;
  phone.start();
}

// Media figures under the call state: packets each way, so "I hear nothing" can be told apart
// from "nothing arrives".
function watchMedia() {
  clearInterval(mediaTimer);
  const line = $("call-state");
  mediaTimer = setInterval(async () => {
    const figures = await phone?.stats();
    if (!figures) return;
    line.dataset.packetsSent = figures.packetsSent;
    line.dataset.packetsReceived = figures.packetsReceived;
    line.dataset.audioEnergyReceived = figures.audioEnergyReceived;
    line.title = `${figures.codec || "?"}: sent ${figures.packetsSent} packets, ` +
                 `received ${figures.packetsReceived}`;
  }, 1000);
}

function act(fn) {
  return () => {
    try {
      fn();
    } catch (error) {
      $("message").textContent = error.message;
    }
  };
}

function buildKeypad() {
  for (const digit of "123456789*0#") {
    const key = document.createElement("button");
    key.type = "button";
    key.textContent = digit;
    key.disabled = true;
    key.addEventListener("click", act(() => phone.sendDtmf(digit)));
    $("keypad").append(key);
  }
}

buildKeypad();
const saved = session();
if (saved?.user?.agent) $("name").value = saved.user.agent;
$("account").addEventListener("submit", register);
$("unregister").addEventListener("click", act(() => { phone?.stop(); phone = null; }));
$("answer").addEventListener("click", act(() => phone.answer()));
$("reject").addEventListener("click", act(() => phone.reject()));
$("hangup").addEventListener("click", act(() => phone.hangup()));
$("hold").addEventListener("click", act(() => phone.hold()));
$("unhold").addEventListener("click", act(() => phone.unhold()));
$("dial").addEventListener("submit", (event) => {
  event.preventDefault();
  act(() => { phone.call($("target").value.trim()); setCall("calling", "Calling..."); })();
});
