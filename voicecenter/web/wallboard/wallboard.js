// The supervisor's wallboard: live queue tiles and agents, charts of the last hours,
// reports with CSV downloads, and Listen / Whisper / Barge on an agent's live call.
//
// Updates: GET /wallboard is the whole picture. With the live events socket
// (/ui/common/events.js) every event triggers a (debounced) reload and a slow
// poll stays on as a safety net; without it the page polls every 2 s.
import { api, el, logout, requireLogin } from "/ui/common/api.js";
import { lineChart } from "/ui/wallboard/chart.js";

const me = requireLogin("supervisor");
const FAST_POLL_MS = 2000;
// Agents' state changes are not events yet: the safety poll is what shows them.
const SAFETY_POLL_MS = 5000;
const PHONE_KEY = "voicecenter.wallboard.phone";
const MODES = ["listen", "whisper", "barge"];

const state = {
  board: null, receivedAt: 0, live: false, loading: false, again: false,
  rows: new Map(), pollTimer: null, eventsTried: false,
};

const $ = (id) => document.getElementById(id);

function seconds(value) {
  if (value === null || value === undefined) return "-";
  const s = Math.max(0, Math.round(value));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}:${String(s % 60).padStart(2, "0")}`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}`;
}

function percent(value) {
  return value === null || value === undefined ? "-" : `${value}%`;
}

// -- live figures -------------------------------------------------------------------
async function refresh() {
  if (state.loading) { state.again = true; return; }
  state.loading = true;
  try {
    const board = await api("GET", "/wallboard");
    state.board = board;
    state.receivedAt = performance.now();
    $("live-error").hidden = true;
    render(board);
  } catch (error) {
    $("live-error").textContent = `Live figures unavailable: ${error.message}`;
    $("live-error").hidden = false;
  } finally {
    state.loading = false;
    if (state.again) { state.again = false; setTimeout(refresh, 0); }
  }
}

let debounce = null;
function refreshSoon() {
  clearTimeout(debounce);
  debounce = setTimeout(refresh, 150);
}

function render(board) {
  renderQueues(board);
  renderAgents(board.agents);
  fillQueueSelects(board.queues.map((q) => q.name));
}

function tile(queue, threshold) {
  const sl = queue.service_level.percent;
  const slClass = sl === null ? "" : sl >= 80 ? "sl-good" : sl >= 60 ? "sl-warn" : "sl-bad";
  const staffed = queue.agents.filter((a) => a.state !== "offline" && a.state !== "away");
  const figure = (name, label, value, cls = "") =>
    [el("dt", {}, label), el("dd", { "data-figure": name, class: cls }, value)];
  return el("article", { class: `tile${queue.waiting && !staffed.length ? " alert" : ""}`,
                         "data-queue": queue.name },
    el("h3", {}, queue.name, " ", el("span", { class: "skills" }, queue.skills.join(", "))),
    el("div", { class: "big" },
      el("div", {}, el("strong", { "data-figure": "waiting" }, queue.waiting),
         el("span", {}, "waiting")),
      el("div", {}, el("strong", { "data-figure": "longest_wait_s" },
                       seconds(queue.longest_wait_s)), el("span", {}, "longest wait")),
      el("div", {}, el("strong", { "data-figure": "service_level", class: slClass },
                       percent(sl)), el("span", {}, `answered in ${threshold}s`))),
    el("dl", {},
      figure("answered", "Answered", queue.answered),
      figure("abandoned", "Abandoned", queue.abandoned),
      figure("asa_s", "ASA", seconds(queue.asa_s)),
      figure("aht_s", "AHT", seconds(queue.aht_s)),
      figure("agents", "Agents on", `${staffed.length}/${queue.agents.length}`),
      figure("estimated_wait_s", "Est. wait", seconds(queue.estimated_wait_s))));
}

function renderQueues(board) {
  const tiles = board.queues.map((q) => tile(q, board.service_level_s));
  $("queues").replaceChildren(...tiles);
  $("no-queues").hidden = tiles.length > 0;
}

function callText(call) {
  if (!call) return "";
  const parts = [];
  if (call.role !== "agent") parts.push(`${call.role} on`);
  if (call.queue) parts.push(call.queue);
  if (call.customer) parts.push(call.customer.replace(/^sips?:/, "").split(";")[0]);
  if (call.held) parts.push("(held)");
  const supervisor = call.parties && call.parties.supervisor;
  if (supervisor && call.role === "agent") {
    parts.push(`- ${supervisor.agent} ${supervisor.mode === "listen" ? "listening"
                                        : supervisor.mode === "whisper" ? "whispering"
                                        : "barged in"}`);
  }
  return parts.join(" ");
}

function actions(agent) {
  const call = agent.call;
  if (!call || call.role !== "agent") return [];
  const supervisor = call.parties && call.parties.supervisor;
  const buttons = MODES.map((mode) => el("button", {
    type: "button", "data-mode": mode, "data-call": call.call_id,
    class: supervisor && supervisor.mode === mode ? "on" : "",
    title: { listen: "hear the caller and the agent", whisper: "speak to the agent only",
             barge: "join the conversation" }[mode],
    onclick: () => supervise(call.call_id, mode, agent.name),
  }, mode[0].toUpperCase() + mode.slice(1)));
  if (supervisor) {
    buttons.push(el("button", { type: "button", "data-mode": "stop", "data-call": call.call_id,
                                onclick: () => stopSupervising(call.call_id) }, "Stop"));
  }
  return buttons;
}

function renderAgents(agents) {
  const body = $("agents").querySelector("tbody");
  const seen = new Set();
  agents.forEach((agent, index) => {
    seen.add(agent.name);
    // Rebuild a row only when something but the clock changed: buttons stay clickable.
    const signature = JSON.stringify({ ...agent, in_state_s: 0,
                                       call: agent.call && { ...agent.call, talking_s: 0 } });
    let entry = state.rows.get(agent.name);
    if (!entry || entry.signature !== signature) {
      const row = el("tr", { "data-agent": agent.name, "data-state": agent.state },
        el("td", {}, agent.display_name && agent.display_name !== agent.name
          ? `${agent.display_name} (${agent.name})` : agent.name),
        el("td", {}, el("span", { class: `state state-${agent.state}` },
                        agent.state.replace("_", "-"))),
        el("td", { class: "reason" }, agent.reason || ""),
        el("td", { class: "in-state" }, seconds(agent.in_state_s)),
        el("td", { class: "call", "data-call": agent.call ? agent.call.call_id : "" },
           callText(agent.call)),
        el("td", { class: "actions" }, actions(agent)));
      if (entry) entry.row.replaceWith(row);
      entry = { row, signature };
      state.rows.set(agent.name, entry);
    }
    entry.base = agent.in_state_s;
    if (body.children[index] !== entry.row) body.insertBefore(entry.row, body.children[index] || null);
  });
  for (const [name, entry] of state.rows) {
    if (!seen.has(name)) { entry.row.remove(); state.rows.delete(name); }
  }
}

// Time in state moves on between reloads without asking the server.
function tick() {
  if (!state.board) return;
  const elapsed = (performance.now() - state.receivedAt) / 1000;
  for (const entry of state.rows.values()) {
    const cell = entry.row.querySelector(".in-state");
    if (cell && entry.base !== null) cell.textContent = seconds(entry.base + elapsed);
  }
}

// -- supervision --------------------------------------------------------------------
function phone() {
  return $("phone").value.trim();
}

async function supervise(callId, mode, agent) {
  const status = $("supervise-status");
  if (!phone()) {
    status.textContent = "Type your phone's agent name first: Listen rings that phone.";
    status.className = "error";
    $("phone").focus();
    return;
  }
  status.className = "muted";
  status.textContent = `Ringing ${phone()} to ${mode} on ${agent}'s call...`;
  try {
    await api("POST", `/calls/${encodeURIComponent(callId)}/supervise`,
              { supervisor: phone(), mode });
    status.textContent = `${mode[0].toUpperCase() + mode.slice(1)}ing on ${agent}'s call ` +
      `from ${phone()}.`;
  } catch (error) {
    status.className = "error";
    status.textContent = `Could not ${mode}: ${error.message}`;
  }
  refreshSoon();
}

async function stopSupervising(callId) {
  const status = $("supervise-status");
  try {
    await api("POST", `/calls/${encodeURIComponent(callId)}/supervise/stop`, {});
    status.className = "muted";
    status.textContent = "Supervision stopped.";
  } catch (error) {
    status.className = "error";
    status.textContent = `Could not stop: ${error.message}`;
  }
  refreshSoon();
}

// -- charts -------------------------------------------------------------------------
function fillQueueSelects(names) {
  for (const [id, blank] of [["chart-queue", null], ["report-queue", "all"]]) {
    const select = $(id);
    const have = [...select.options].map((o) => o.value).filter(Boolean);
    const wanted = [...new Set([...have, ...names])].sort();
    if (wanted.join() === have.join()) continue;
    const current = select.value;
    select.replaceChildren(...(blank ? [el("option", { value: "" }, blank)] : []),
                           ...wanted.map((n) => el("option", { value: n }, n)));
    select.value = current || (blank ? "" : wanted[0] || "");
    if (id === "chart-queue" && !current) loadCharts();
  }
}

async function loadCharts() {
  const queue = $("chart-queue").value;
  const hours = Number($("chart-hours").value);
  if (!queue) return;
  try {
    const history = await api("GET", `/wallboard/history?queue=${encodeURIComponent(queue)}` +
                                      `&hours=${hours}`);
    const samples = history.queues[queue] || [];
    const to = Date.now();
    const from = to - hours * 3600e3;
    const at = (s) => Date.parse(s.at);
    const series = (label, color, key) => ({ label, color,
                                             points: samples.map((s) => [at(s), s[key]]) });
    $("charts").replaceChildren(
      lineChart([series("waiting", "#1f6feb", "waiting"),
                 series("longest wait s", "#9a6700", "longest_wait_s")],
                { title: `${queue}: callers waiting`, from, to }),
      lineChart([series("service level", "#1a7f37", "service_level")],
                { title: `${queue}: service level`, yMax: 100, unit: "%", from, to }),
      lineChart([series("ASA", "#8250df", "asa_s"), series("AHT", "#cf222e", "aht_s")],
                { title: `${queue}: speed of answer and handle time (s)`, from, to }),
      lineChart([series("answered", "#1a7f37", "answered"),
                 series("abandoned", "#cf222e", "abandoned")],
                { title: `${queue}: answered and abandoned (last hour)`, from, to }));
    $("charts").dataset.samples = String(samples.length);
  } catch (error) {
    $("charts").replaceChildren(el("p", { class: "error" }, `History: ${error.message}`));
  }
}

// -- reports ------------------------------------------------------------------------
const DAILY = [["day", "Day"], ["queue", "Queue"], ["offered", "Offered"],
               ["answered", "Answered"], ["abandoned", "Abandoned"], ["timeouts", "Timeouts"],
               ["service_level", "SL %"], ["asa_s", "ASA s"], ["aht_s", "AHT s"],
               ["talk_s", "Talk s"], ["wrap_up_s", "Wrap-up s"], ["longest_wait_s", "Max wait s"],
               ["dispositions", "Dispositions"]];
const AGENTS = [["day", "Day"], ["agent", "Agent"], ["offered", "Offered"],
                ["missed_offers", "Missed"], ["answered", "Answered"],
                ["abandoned", "Abandoned"], ["service_level", "SL %"], ["asa_s", "ASA s"],
                ["aht_s", "AHT s"], ["handled", "Handled"], ["talk_s", "Talk s"],
                ["wrap_up_s", "Wrap-up s"], ["dispositions", "Dispositions"]];

function cell(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value === "object") {
    return Object.entries(value).map(([k, n]) => `${k}: ${n}`).join(", ");
  }
  return value;
}

function fillTable(table, columns, rows, totals) {
  table.querySelector("thead").replaceChildren(
    el("tr", {}, columns.map(([, label]) => el("th", {}, label))));
  const body = rows.map((row) => el("tr", {}, columns.map(([key]) => el("td", {}, cell(row[key])))));
  if (!rows.length) {
    body.push(el("tr", {}, el("td", { colspan: columns.length, class: "muted" },
                              "Nothing in this range.")));
  } else if (totals) {
    body.push(el("tr", { class: "totals" }, columns.map(([key], i) =>
      el("th", {}, i === 0 ? "Total" : key in totals ? cell(totals[key]) : ""))));
  }
  table.querySelector("tbody").replaceChildren(...body);
}

function reportQuery() {
  const params = new URLSearchParams({ from: $("report-from").value, to: $("report-to").value });
  const tz = $("report-tz").value.trim();
  if (tz) params.set("tz", tz);
  if ($("report-queue").value) params.set("queue", $("report-queue").value);
  return params;
}

async function loadReports(event) {
  if (event) event.preventDefault();
  const params = reportQuery();
  const error = $("report-error");
  try {
    const [daily, agents] = await Promise.all([
      api("GET", `/reports/daily?${params}`), api("GET", `/reports/agents?${params}`)]);
    fillTable($("report-daily"), DAILY, daily.items, daily.totals);
    fillTable($("report-agents"), AGENTS, agents.items, agents.totals);
    error.hidden = true;
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
  // Downloads go through the login cookie: a plain link, saved under the server's filename.
  params.set("format", "csv");
  $("csv-daily").href = `/reports/daily?${params}`;
  $("csv-agents").href = `/reports/agents?${params}`;
}

function localDay(date = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// -- tabs, feed, start ----------------------------------------------------------------
function showTab(name) {
  for (const tab of ["live", "reports"]) {
    $(tab).hidden = tab !== name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
  }
  if (name === "reports") loadReports();
}

function setFeed(text, kind) {
  const feed = $("feed");
  feed.textContent = text;
  feed.className = `feed ${kind}`;
  feed.dataset.mode = kind;
}

function schedulePoll() {
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(refresh, state.live ? SAFETY_POLL_MS : FAST_POLL_MS);
}

function onStatus(status) {
  const text = typeof status === "string" ? status : (status && (status.state || status.status));
  const live = /^(open|live|connected|ready)/i.test(String(text || ""));
  if (live !== state.live) {
    state.live = live;
    schedulePoll();
    if (live) refreshSoon();  // catch up on what happened while the socket was down
  }
  setFeed(live ? "live" : "polling every 2 s", live ? "live" : "polling");
}

// events.js is written beside this page by another part of the project; until
// it is there the page polls, and it looks again every 30 s.
async function connectFeed() {
  try {
    const probe = await fetch("/ui/common/events.js", { method: "HEAD", cache: "no-store" });
    if (!probe.ok) throw new Error(String(probe.status));
    const events = await import("/ui/common/events.js");
    events.connectEvents({ onEvent: () => refreshSoon(), onStatus });
  } catch (_) {
    setFeed("polling every 2 s", "polling");
    setTimeout(connectFeed, 30000);
  }
}

function start() {
  $("who").textContent = `${me.user.name} (${me.user.role})`;
  $("logout").addEventListener("click", logout);
  $("tab-live").addEventListener("click", () => showTab("live"));
  $("tab-reports").addEventListener("click", () => showTab("reports"));
  $("phone").value = localStorage.getItem(PHONE_KEY) || me.user.agent || "";
  $("phone").addEventListener("change", () => localStorage.setItem(PHONE_KEY, phone()));
  $("chart-queue").addEventListener("change", loadCharts);
  $("chart-hours").addEventListener("change", loadCharts);
  $("report-from").value = localDay();
  $("report-to").value = localDay();
  $("report-tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("report-form").addEventListener("submit", loadReports);
  setFeed("polling every 2 s", "polling");
  schedulePoll();
  refresh();
  connectFeed();
  setInterval(tick, 1000);
  setInterval(() => { if (!$("live").hidden) loadCharts(); }, 30000);
}

start();
