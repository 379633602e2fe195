// One interaction under review: the stereo recording with a per-speaker transcript that
// follows playback (click a word to seek), one timeline of events, chat lines and speech,
// and the scorecard. Everything shown comes redacted from GET /interactions/{id}/review.
import { api, el, logout, requireLogin } from "/ui/common/api.js";
import { clock, duration, offset, score, when } from "/ui/qa/format.js";

const me = requireLogin("qa", "supervisor");
const id = new URLSearchParams(location.search).get("id") || "";
const player = document.getElementById("player");
const error = document.getElementById("error");
let review = null;
let current = null; // the recording in the player
let spans = []; // the word elements of the current recording, in time order

document.getElementById("who").textContent = `${me.user.name} (${me.user.role})`;
document.getElementById("logout").addEventListener("click", logout);

function fail(message) {
  error.textContent = message;
  error.hidden = false;
}

function renderSummary() {
  const s = review.summary;
  const fields = [["Started", when(s.started_at)], ["Channel", s.channel],
                  ["Duration", duration(s.duration_s)], ["Agent", s.agent || "—"],
                  ["Queue", s.queue || "—"], ["Disposition", s.disposition || "—"],
                  ["Customer", review.interaction.customer || "—"]];
  document.getElementById("summary").replaceChildren(
    ...fields.flatMap(([k, v]) => [el("div", {}, el("dt", {}, k), el("dd", {}, v))]));
  document.getElementById("title").textContent = `Review: ${s.channel} ${when(s.started_at)}`;
}

// Seek the player to a moment of `recording` (switching recordings if needed) and play.
async function seek(callId, seconds) {
  if (!current || current.call_id !== callId) {
    const other = review.recordings.find((r) => r.call_id === callId);
    if (!other) return;
    load(other);
  }
  if (player.readyState < 1) {
    await new Promise((resolve) => player.addEventListener("loadedmetadata", resolve,
                                                           { once: true }));
  }
  player.currentTime = seconds;
  highlight();
  try { await player.play(); } catch (_) { /* the user can press play */ }
}

function load(recording) {
  current = recording;
  player.src = recording.url;
  document.getElementById("recording").value = recording.call_id;
  renderSpeakers();
}

function renderSpeakers() {
  const box = document.getElementById("speakers");
  const mine = review.transcripts.filter((t) => t.call_id === current.call_id);
  spans = [];
  box.replaceChildren(...mine.map((t) => {
    const words = t.words.map((w, index) => {
      const redacted = w.word === "[redacted]";
      const span = el("span", { class: redacted ? "word redacted" : "word",
                                "data-start": w.start, "data-end": w.end,
                                "data-index": index, "data-label": t.label,
                                title: offset(w.start),
                                onclick: () => seek(t.call_id, w.start) }, w.word);
      spans.push(span);
      return [span, " "];
    });
    return el("div", { class: "speaker", "data-label": t.label },
              el("h3", {}, t.label), el("div", { class: "words" },
                                        words.length ? words.flat() : el("span", { class: "muted" },
                                                                          "(nothing said)")));
  }));
  if (!mine.length) box.replaceChildren(el("p", { class: "muted" }, "No transcript yet."));
  spans.sort((a, b) => a.dataset.start - b.dataset.start);
}

// The word under the playhead (on either channel) is highlighted as it plays.
function highlight() {
  const t = player.currentTime;
  const now = spans.filter((s) => Number(s.dataset.start) <= t && t < Number(s.dataset.end));
  for (const span of spans) span.classList.toggle("playing", now.includes(span));
  for (const item of document.querySelectorAll("#timeline li.speech")) {
    item.classList.toggle("playing", item.dataset.call === current?.call_id &&
                          Number(item.dataset.start) <= t && t < Number(item.dataset.end));
  }
}

function tick() {
  highlight();
  if (!player.paused) requestAnimationFrame(tick);
}
player.addEventListener("play", () => requestAnimationFrame(tick));
player.addEventListener("seeked", highlight);
player.addEventListener("timeupdate", highlight);

function renderRecordings() {
  const select = document.getElementById("recording");
  if (!review.recordings.length) {
    document.getElementById("no-recording").hidden = false;
    return;
  }
  document.getElementById("listen").hidden = false;
  select.replaceChildren(...review.recordings.map((r) => el("option", { value: r.call_id },
    `${when(r.started_at)} (${(r.agents || []).join(", ") || "call"})`)));
  select.hidden = review.recordings.length < 2;
  select.addEventListener("change", () => load(review.recordings.find(
    (r) => r.call_id === select.value)));
  load(review.recordings[0]);
}

function eventText(item) {
  const data = item.data || {};
  const shown = Object.entries(data).filter(([k, v]) => v !== null && v !== "" &&
    !["path", "why", "sip_call_id", "from_uri", "to_uri"].includes(k) && typeof v !== "object");
  return shown.map(([k, v]) => `${k}: ${v}`).join(", ");
}

function renderTimeline() {
  const list = document.getElementById("timeline");
  list.replaceChildren(...review.timeline.map((item) => {
    if (item.type === "speech") {
      return el("li", { class: "speech", "data-call": item.call_id, "data-start": item.start,
                        "data-end": item.end, onclick: () => seek(item.call_id, item.start) },
        el("span", { class: "at" }, clock(item.at)),
        el("span", { class: "kind" }, `${item.label} said`),
        el("span", { class: "text" }, item.text));
    }
    if (item.type === "line") {
      return el("li", { class: "line" }, el("span", { class: "at" }, clock(item.at)),
        el("span", { class: "kind" }, `${item.agent || item.from} wrote`),
        el("span", { class: "text" }, item.text));
    }
    return el("li", { class: "event" }, el("span", { class: "at" }, clock(item.at)),
      el("span", { class: "kind" }, item.kind), el("span", { class: "text" }, eventText(item)));
  }));
}

function renderScorecard() {
  const box = document.getElementById("questions");
  box.replaceChildren(...review.scorecard.map((q) => {
    const choices = [];
    for (let value = 0; value <= q.max; value += 1) {
      choices.push(el("label", {}, el("input", { type: "radio", name: q.id, value: String(value),
                                                 required: "" }), ` ${value}`));
    }
    return el("fieldset", { class: "question", "data-question": q.id },
              el("legend", {}, `${q.text} `, el("span", { class: "muted" }, `(weight ${q.weight})`)),
              el("div", { class: "choices" }, choices));
  }));
}

function renderScores() {
  const list = document.getElementById("scores");
  list.replaceChildren(...review.scores.map((s) => el("li", { "data-score": s.id },
    el("strong", {}, score(s.total)), ` by ${s.reviewer} on ${when(s.created_at)}`,
    s.comment ? el("div", { class: "muted" }, s.comment) : null)));
  if (!review.scores.length) list.replaceChildren(el("li", { class: "muted" }, "None yet."));
}

document.getElementById("scorecard").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const answers = {};
  for (const q of review.scorecard) {
    const picked = form.querySelector(`input[name="${q.id}"]:checked`);
    if (picked) answers[q.id] = Number(picked.value);
  }
  const saved = document.getElementById("saved");
  try {
    const stored = await api("POST", `/interactions/${encodeURIComponent(id)}/scores`,
                             { answers, comment: form.elements.comment.value });
    saved.textContent = `Saved: ${score(stored.total)}`;
    review.scores = (await api("GET", `/interactions/${encodeURIComponent(id)}/scores`)).items;
    renderScores();
  } catch (failure) {
    saved.textContent = "";
    fail(failure.message);
  }
});

async function start() {
  if (!id) { fail("No interaction given (?id=...)."); return; }
  try {
    review = await api("GET", `/interactions/${encodeURIComponent(id)}/review`);
  } catch (failure) {
    fail(failure.message);
    return;
  }
  renderSummary();
  renderTimeline();
  renderRecordings();
  renderScorecard();
  renderScores();
  document.body.dataset.ready = "true";
}

start();
