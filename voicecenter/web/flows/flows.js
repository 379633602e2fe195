// The flows page: what came of each edit of the YAML flow files - whether it
// loaded or why not (file:line), which version is live, its graph, and which
// calls ran which version. Read only: flows are edited as files, and hot
// reload picks them up, so the page polls and follows the live version.
import { api, logout, requireLogin, session } from "/ui/common/api.js";

const POLL_MS = 2000;
const STATUS_TEXT = {
  ok: "live",
  warning: "live, with warnings",
  refused: "last edit refused",
  error: "not loaded",
};

const $ = (selector) => document.querySelector(selector);
let selected = null; // the flow name shown in the detail pane
let shown = null; // what the detail pane shows: {name, version, fileVersion, status}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "-";
}

function badge(status) {
  return el("span", { class: `badge ${status}`, "data-status": status }, STATUS_TEXT[status] ?? status);
}

function showError(target, error) {
  const box = $(target);
  box.textContent = error ? (error.body?.message ?? error.message) : "";
  box.hidden = !error;
}

// -- list ---------------------------------------------------------------------
let running = Promise.resolve();

// One refresh at a time: a poll and a click must not draw over each other.
function refreshList() {
  running = running.then(refreshListNow, refreshListNow);
  return running;
}

async function refreshListNow() {
  let items;
  try {
    ({ items } = await api("GET", "/flows"));
    showError("#list-error", null);
  } catch (error) {
    showError("#list-error", error);
    return;
  }
  const body = $("#flow-list tbody");
  body.replaceChildren(...items.map((flow) => {
    const row = el("tr", { "data-flow": flow.name, "data-status": flow.status },
      el("td", {}, el("a", { href: `#flow=${encodeURIComponent(flow.name)}` }, flow.name)),
      el("td", {}, badge(flow.status)),
      el("td", {}, flow.entry_points.join(", ")),
      el("td", { class: "version" }, flow.live ? flow.live.version : "-"));
    if (flow.name === selected) row.classList.add("selected");
    return row;
  }));
  $("#refreshed").textContent = `checked ${new Date().toLocaleTimeString()}`;
  if (!selected && items.length) select(items[0].name);
  const current = items.find((flow) => flow.name === selected);
  if (selected && !current) {
    $("#detail").hidden = true;
  } else if (current && changed(current)) {
    await showFlow(selected);
  } else if (current) {
    await refreshCalls();
  }
}

function changed(flow) {
  return !shown || shown.name !== flow.name || shown.status !== flow.status
    || shown.version !== (flow.live?.version ?? null) || shown.fileVersion !== flow.file_version
    || shown.errors !== flow.errors + flow.warnings;
}

function select(name) {
  if (location.hash !== `#flow=${encodeURIComponent(name)}`) {
    history.replaceState(null, "", `#flow=${encodeURIComponent(name)}`);
  }
  selected = name;
}

// -- one flow -----------------------------------------------------------------
async function showFlow(name) {
  let flow;
  try {
    flow = await api("GET", `/flows/${encodeURIComponent(name)}`);
    showError("#detail-error", null);
  } catch (error) {
    showError("#detail-error", error);
    $("#detail").hidden = true;
    return;
  }
  if (name !== selected) return;
  const drawn = $("#graph").dataset.drawn;
  shown = { name, version: flow.live?.version ?? null, fileVersion: flow.file_version,
            status: flow.status, errors: flow.errors + flow.warnings };
  for (const row of document.querySelectorAll("#flow-list tr[data-flow]")) {
    row.classList.toggle("selected", row.dataset.flow === name);
  }
  $("#detail").hidden = false;
  $("#flow-name").textContent = flow.name;
  $("#flow-description").textContent = flow.description;
  $("#flow-status").replaceChildren(badge(flow.status));
  const live = $("#live-version");
  live.textContent = flow.live ? flow.live.version : "none";
  live.dataset.version = flow.live?.version ?? "";
  $("#live-loaded").textContent = when(flow.live?.loaded_at);
  $("#flow-file").textContent = flow.file;
  $("#flow-numbers").textContent = flow.entry_points.join(", ") || "none (a subflow, or unused)";
  const pending = $("#pending");
  pending.hidden = flow.file_is_live || !flow.live;
  pending.textContent = flow.status === "refused"
    ? `The file's last edit was refused; version ${flow.live?.version} still runs.`
    : "The file changed; the server picks it up within a second.";

  renderFindings(flow.findings);
  renderVersions(flow.versions);
  renderSource(flow.source, flow.findings);
  $("#live-source-box").hidden = !flow.live_source;
  $("#live-source").textContent = flow.live_source ?? "";
  if (drawn !== `${name}@${flow.live?.version ?? ""}`) await renderGraph(flow);
  await refreshCalls();
}

function renderFindings(findings) {
  $("#check-ok").hidden = findings.length > 0;
  $("#findings").replaceChildren(...findings.map((finding) => {
    const where = el("a", { href: "#", class: "where" }, finding.where);
    where.addEventListener("click", (event) => {
      event.preventDefault();
      document.getElementById(`line-${finding.line}`)?.scrollIntoView({ block: "center" });
    });
    return el("li", { class: `finding ${finding.severity}`, "data-where": finding.where,
                      "data-line": String(finding.line) },
      where, ": ", finding.message);
  }));
}

function renderVersions(versions) {
  const options = [el("option", { value: "" }, "all")];
  const chosen = $("#calls-version").value;
  $("#versions tbody").replaceChildren(...[...versions].reverse().map((version) => {
    options.push(el("option", { value: version.version }, version.version));
    return el("tr", { "data-version": version.version, class: version.live ? "live" : "" },
      el("td", { class: "version" }, version.version),
      el("td", {}, when(version.loaded_at)),
      el("td", { class: "runs" }, version.runs),
      el("td", {}, version.live ? "live" : ""));
  }));
  $("#calls-version").replaceChildren(...options);
  $("#calls-version").value = versions.some((v) => v.version === chosen) ? chosen : "";
}

function renderSource(source, findings) {
  const marked = new Map(findings.filter((f) => f.line).map((f) => [f.line, f]));
  const lines = (source ?? "").replace(/\n$/, "").split("\n");
  $("#source").replaceChildren(...lines.map((text, index) => {
    const number = index + 1;
    const finding = marked.get(number);
    return el("span", { id: `line-${number}`, class: finding ? `line ${finding.severity}` : "line",
                        title: finding ? finding.message : "" },
      el("span", { class: "number" }, number), text);
  }));
}

// Graphviz SVG comes from our own server, but it carries names from the YAML:
// keep only drawing elements, never scripts, links or event handlers.
function cleanSvg(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("the server's graph is not SVG");
  for (const bad of svg.querySelectorAll("script, foreignObject, a, use")) {
    bad.replaceWith(...bad.childNodes);
  }
  for (const node of [svg, ...svg.querySelectorAll("*")]) {
    for (const attribute of [...node.attributes]) {
      if (/^on/i.test(attribute.name) || /href$/i.test(attribute.name)) {
        node.removeAttribute(attribute.name);
      }
    }
  }
  return document.importNode(svg, true);
}

async function renderGraph(flow) {
  const box = $("#graph");
  box.dataset.drawn = `${flow.name}@${flow.live?.version ?? ""}`;
  if (!flow.live) {
    box.replaceChildren(el("p", { class: "hint" }, "No live version to draw: fix the errors above."));
    return;
  }
  const response = await fetch(`/flows/${encodeURIComponent(flow.name)}/graph.svg`, {
    headers: { Authorization: `Bearer ${session()?.token ?? ""}` },
  });
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).message; } catch { /* not JSON */ }
    box.replaceChildren(el("p", { class: "error" }, `No graph: ${message}`));
    box.dataset.drawn = ""; // try again on the next poll
    return;
  }
  const svg = cleanSvg(await response.text());
  svg.setAttribute("data-version", response.headers.get("X-Flow-Version") ?? "");
  // A node of the picture leads to its lines in the YAML.
  const lines = new Map(flow.nodes.map((node) => [node.id, node.line]));
  for (const group of svg.querySelectorAll("g.node")) {
    const line = lines.get(group.querySelector("title")?.textContent);
    if (!line) continue;
    group.classList.add("linked");
    group.addEventListener("click", () => {
      const target = document.getElementById(`line-${line}`);
      target?.scrollIntoView({ block: "center" });
      target?.classList.add("picked");
      setTimeout(() => target?.classList.remove("picked"), 1500);
    });
  }
  box.replaceChildren(svg);
}

async function refreshCalls() {
  if (!selected) return;
  const version = $("#calls-version").value;
  const query = new URLSearchParams({ limit: "50" });
  if (version) query.set("version", version);
  let items;
  try {
    ({ items } = await api("GET", `/flows/${encodeURIComponent(selected)}/calls?${query}`));
  } catch (error) {
    showError("#detail-error", error);
    return;
  }
  $("#calls-empty").hidden = items.length > 0;
  $("#calls tbody").replaceChildren(...items.map((run) => el("tr",
    { "data-call-id": run.call_id ?? "", "data-interaction-id": run.interaction_id,
      "data-version": run.version ?? "", class: run.subflow ? "subflow" : "" },
    el("td", {}, when(run.started_at)),
    el("td", { class: "version" }, run.version ?? "?"),
    el("td", {}, run.channel + (run.subflow ? " (as subflow)" : "")),
    el("td", {}, run.from ?? ""),
    el("td", { class: "outcome" }, run.outcome ?? (run.call_state === "ended" ? "ended" : "running")),
    el("td", { class: "call-id" }, (run.call_id ?? run.interaction_id).slice(0, 12)))));
}

// -- start ----------------------------------------------------------------------
function fromHash() {
  const match = /^#flow=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function main() {
  const current = await requireLogin("supervisor", "admin");
  if (!current) return;
  $("#who").textContent = `${current.user.name} (${current.user.role})`;
  $("#logout").addEventListener("click", () => logout());
  $("#calls-version").addEventListener("change", () => refreshCalls());
  window.addEventListener("hashchange", async () => {
    const name = fromHash();
    if (name && name !== selected) {
      selected = name;
      shown = null;
      await refreshList();
    }
  });
  selected = fromHash();
  await refreshList();
  const tick = async () => {
    try {
      await refreshList();
    } finally {
      setTimeout(tick, POLL_MS);
    }
  };
  setTimeout(tick, POLL_MS);
}

main();
