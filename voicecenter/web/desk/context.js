// The customer panel: who is calling or chatting, what they answered in the
// IVR, the data the flow attached, earlier interactions and the timeline.

import { $, clock, el, show, text } from "./dom.js";

// What a timeline event says, in a line an agent reads at a glance.
export function describe(event) {
  const d = event.data || {};
  switch (event.kind) {
    case "flow.input":
      return `${d.node}: ${d.digits || d.text || "(nothing)"}${d.reason ? ` (${d.reason})` : ""}`;
    case "flow.variable_set": return `${d.name} = ${text(d.value)}`;
    case "flow.step": return `${d.node} (${d.type}) -> ${d.outcome}`;
    case "chat.message_received": case "sms.received": return `customer: ${d.text}`;
    case "chat.message_sent": case "sms.sent":
      return `${d.agent || d.from || "bot"}: ${d.text}`;
    case "interaction.assigned": case "interaction.offer_missed":
    case "interaction.offer_rejected":
      return `agent ${d.agent}${d.reason ? `: ${d.reason}` : ""}`;
    case "interaction.data_attached":
      return Object.entries(d.attached || {}).map(([k, v]) => `${k}=${text(v)}`).join(", ");
    case "call.transferred": case "call.transfer_started": return `${d.from} -> ${d.to}`;
    case "speech.recognized": return d.text || "";
    default: {
      const keys = Object.keys(d).filter((k) => typeof d[k] !== "object").slice(0, 3);
      return keys.map((k) => `${k}: ${d[k]}`).join(", ");
    }
  }
}

function rows(tbody, pairs) {
  tbody.replaceChildren(...pairs.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
  if (!pairs.length) tbody.replaceChildren(el("tr", {}, el("td", { colspan: 2 }, "none")));
}

export function renderContext(context) {
  const panel = $("context");
  if (!context) { show(panel, false); return; }
  show(panel, true);
  const { interaction, customer, answers, history, timeline } = context;
  const attached = interaction.attached || {};
  const ids = (customer && customer.identities) || [];
  $("customer").replaceChildren(
    el("p", { class: "customer-name" },
      (customer && customer.display_name) || attached.customer_name || ids.map((i) => i.value)[0] ||
        "unknown customer"),
    el("p", { class: "meta" },
      el("span", { class: "badge", id: "segment" }, attached.segment || "no segment"),
      ` ${interaction.channel} - started ${clock(interaction.created_at)}`),
    el("ul", { class: "ids" }, ids.map((i) => el("li", {}, `${i.kind}: ${i.value}`))));
  rows($("answers").tBodies[0], answers.map((a) => [a.name || a.node,
    a.input !== undefined && a.input !== null && String(a.input) !== String(a.value)
      ? `${text(a.value)} (pressed ${a.input})` : text(a.value)]));
  rows($("attached").tBodies[0], Object.entries(attached).map(([k, v]) => [k, text(v)]));
  $("history").replaceChildren(...(history.length ? history.map((h) =>
    el("li", {}, `${clock(h.created_at)} ${h.channel} ${h.state}`,
      h.attached && h.attached.department ? ` - ${h.attached.department}` : "")) :
    [el("li", {}, "first contact")]));
  $("timeline").replaceChildren(...timeline.map((e) =>
    el("li", { "data-kind": e.kind },
      el("time", {}, clock(e.at)), " ", el("b", {}, e.kind), " ", describe(e))));
}
