// The QA search page: filters in the address bar (so Back and links keep them),
// results with duration, score and the words that matched.
import { api, el, logout, requireLogin } from "/ui/common/api.js";
import { duration, score, when } from "/ui/qa/format.js";

const me = requireLogin("qa", "supervisor");
const form = document.getElementById("filters");
const rows = document.querySelector("#results tbody");
const error = document.getElementById("error");
const PAGE = 25;
let offset = 0;

document.getElementById("who").textContent = `${me.user.name} (${me.user.role})`;
document.getElementById("logout").addEventListener("click", logout);

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  for (const field of form.elements) {
    if (field.name && params.has(field.name)) field.value = params.get(field.name);
  }
  offset = Number(params.get("offset") || 0);
}

function query() {
  const params = new URLSearchParams();
  for (const field of form.elements) {
    if (field.name && field.value.trim()) params.set(field.name, field.value.trim());
  }
  params.set("limit", String(PAGE));
  if (offset) params.set("offset", String(offset));
  return params;
}

function snippetCell(snippet) {
  if (!snippet) return el("td", { class: "muted" }, "");
  const who = snippet.source === "transcript" ? `${snippet.label} said` : `${snippet.label} wrote`;
  return el("td", { class: "snippet" }, el("span", { class: "muted" }, `${who}: `), snippet.text);
}

async function search() {
  const params = query();
  history.replaceState(null, "", `?${params}`);
  error.hidden = true;
  let answer;
  try {
    answer = await api("GET", `/interactions/search?${params}`);
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    return;
  }
  rows.replaceChildren(...answer.items.map((item) => {
    const link = el("a", { href: `/ui/qa/interaction.html?id=${encodeURIComponent(item.id)}`,
                           class: "open" }, when(item.started_at));
    return el("tr", { "data-id": item.id },
      el("td", {}, link), el("td", {}, item.channel), el("td", {}, duration(item.duration_s)),
      el("td", {}, item.agent || ""), el("td", {}, item.queue || ""),
      el("td", {}, item.disposition || ""), el("td", { class: "score" }, score(item.score)),
      snippetCell(item.snippet));
  }));
  const last = Math.min(answer.offset + answer.items.length, answer.total);
  document.getElementById("count").textContent = answer.total
    ? `Interactions ${answer.offset + 1}–${last} of ${answer.total}` : "Interactions";
  document.getElementById("empty").hidden = answer.total > 0;
  document.getElementById("prev").disabled = answer.offset === 0;
  document.getElementById("next").disabled = last >= answer.total;
}

form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; search(); });
document.getElementById("prev").addEventListener("click", () => {
  offset = Math.max(0, offset - PAGE); search();
});
document.getElementById("next").addEventListener("click", () => { offset += PAGE; search(); });
filtersFromUrl();
search();
