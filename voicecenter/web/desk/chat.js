// Several chats at once: a tab per conversation, its lines, a reply box,
// typing indicators, close, and turning the chat into a call.

import { $, clock, el, notice, show } from "./dom.js";

export class ChatPanel {
  constructor(desk) {
    this.desk = desk; // socket, loadContext()
    this.chats = new Map(); // conversation id -> { summary, lines, view, tab, unread }
    this.active = null;
    this.clientSeq = 0;
    this.offers = new Map(); // conversation id -> offer list item
    this.pending = new Map(); // client id -> text sent, shown once the server numbers it
  }

  // A chat or SMS offered to the agent: several may wait at once, each accepted apart.
  offer(frame) {
    const id = frame.conversation;
    this.dropOffer(id);
    const first = (frame.lines || []).find((line) => line.from === "customer");
    const item = el("li", { class: "chat-offer", "data-conversation": id },
      el("b", {}, `${frame.channel} from ${frame.address || "visitor"}`), " ",
      el("span", { class: "preview" }, first ? first.text : ""),
      el("span", { class: "actions" },
        el("button", { type: "button", class: "primary accept-chat", onclick: () => {
          this.desk.socket.send({ type: "accept", conversation: id });
        } }, "Accept"),
        el("button", { type: "button", class: "decline-chat", onclick: () => {
          this.desk.socket.send({ type: "decline", conversation: id });
          this.dropOffer(id);
        } }, "Decline"),
        el("button", { type: "button", class: "quiet", onclick: () => this.desk.loadContext(id) },
          "Details")));
    this.offers.set(id, item);
    $("chat-offers").append(item);
    // An offer nobody accepts is withdrawn by the server (routing.ring_timeout_s).
    setTimeout(() => this.dropOffer(id), 60000);
    this.desk.loadContext(id);
    this.render();
  }

  dropOffer(id) {
    const item = this.offers.get(id);
    if (item) item.remove();
    this.offers.delete(id);
  }

  // The server's hello lists the conversations already held (after a reload).
  restore(conversations) {
    for (const summary of conversations) {
      this.open(summary, []);
      this.desk.socket.send({ type: "history", conversation: summary.conversation, since: 0 });
    }
  }

  open(summary, lines) {
    const id = summary.conversation;
    let chat = this.chats.get(id);
    if (!chat) {
      chat = this.build(summary);
      this.chats.set(id, chat);
    }
    chat.summary = { ...chat.summary, ...summary };
    for (const line of lines) this.line(id, line);
    if (!this.active) this.select(id);
    this.render();
  }

  build(summary) {
    const id = summary.conversation;
    const list = el("ol", { class: "lines" });
    const input = el("input", { placeholder: "Reply...", "aria-label": "Reply",
      maxlength: 4096, "data-conversation": id });
    const typing = el("p", { class: "typing" });
    const uri = el("input", { placeholder: summary.channel === "sms" ? "number (optional)"
      : "customer SIP URI or number", "aria-label": "Number to call", class: "escalate-to" });
    let typingTimer = null;
    input.addEventListener("input", () => {
      if (!typingTimer) this.desk.socket.send({ type: "typing", conversation: id, on: true });
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        typingTimer = null;
        this.desk.socket.send({ type: "typing", conversation: id, on: false });
      }, 2000);
    });
    const form = el("form", { class: "reply", onsubmit: (event) => {
      event.preventDefault();
      const textValue = input.value.trim();
      if (!textValue) return;
      const clientId = `d${Date.now()}-${++this.clientSeq}`;
      const sent = this.desk.socket.send({ type: "message", conversation: id, text: textValue,
        client_id: clientId });
      if (!sent) { notice("Not connected: the line was not sent.", "error"); return; }
      this.pending.set(clientId, textValue);
      input.value = "";
    } }, input, el("button", { type: "submit" }, "Send"));
    const view = el("div", { class: "chat", "data-conversation": id, hidden: true },
      el("p", { class: "meta" }, `${summary.channel} - ${summary.address || ""}`),
      list, typing, form,
      el("div", { class: "chat-actions" },
        uri,
        el("button", { type: "button", class: "escalate", onclick: () => {
          this.desk.socket.send({ type: "escalate", conversation: id,
            uri: uri.value.trim() || undefined });
        } }, "Call customer"),
        el("button", { type: "button", class: "close-chat", onclick: () => {
          this.desk.socket.send({ type: "close", conversation: id });
        } }, "Close chat")));
    const tab = el("button", { type: "button", class: "tab", "data-conversation": id,
      onclick: () => this.select(id) }, summary.address || id.slice(0, 8));
    $("chat-views").append(view);
    $("chat-tabs").append(tab);
    return { summary, seqs: new Set(), list, typing, view, tab, unread: 0 };
  }

  line(id, frame) {
    const chat = this.chats.get(id);
    if (!chat || chat.seqs.has(frame.seq)) return;
    chat.seqs.add(frame.seq);
    const item = el("li", { class: `from-${frame.from}`, "data-seq": frame.seq },
      el("time", {}, clock(frame.at)), " ", el("b", {}, frame.agent || frame.from), " ", frame.text);
    // Lines can arrive out of order after a history request: keep them by seq.
    const after = [...chat.list.children].find((li) => Number(li.dataset.seq) > frame.seq);
    chat.list.insertBefore(item, after || null);
    chat.list.scrollTop = chat.list.scrollHeight;
    if (this.active !== id) { chat.unread += 1; this.render(); }
  }

  onFrame(frame) {
    const id = frame.conversation;
    switch (frame.type) {
      case "offer":
        if (frame.channel === "voice") return false;
        this.offer(frame);
        return true;
      case "assigned":
        this.dropOffer(id);
        this.open(frame, frame.lines || []);
        this.select(id);
        return true;
      case "message": this.line(id, frame); return true;
      case "history": for (const line of frame.lines || []) this.line(id, line); return true;
      case "sent": {
        const sentText = this.pending.get(frame.client_id);
        this.pending.delete(frame.client_id);
        if (sentText !== undefined) {
          this.line(id, { seq: frame.seq, from: "agent", agent: this.desk.agent, text: sentText,
            at: Date.now() / 1000 });
        }
        return true;
      }
      case "typing": {
        const chat = this.chats.get(id);
        if (chat) chat.typing.textContent = frame.on ? "customer is typing..." : "";
        return true;
      }
      case "ended": this.ended(id, frame.reason); return true;
      case "escalation": {
        const chat = this.chats.get(id);
        if (chat) {
          const state = frame.state === "connected" ? "call connected" :
            frame.state === "calling" ? "calling the customer..." :
              `call ${frame.state}${frame.reason ? `: ${frame.reason}` : ""}`;
          chat.typing.textContent = state;
        }
        return false; // the desk also turns a connected escalation into the current call
      }
      default: return false;
    }
  }

  ended(id, reason) {
    const chat = this.chats.get(id);
    if (!chat) return;
    chat.view.remove();
    chat.tab.remove();
    this.chats.delete(id);
    if (this.active === id) this.active = null;
    if (!this.active && this.chats.size) this.select(this.chats.keys().next().value);
    notice(`Chat ended${reason ? ` (${reason})` : ""}.`);
    this.render();
  }

  select(id) {
    this.active = id;
    const chat = this.chats.get(id);
    if (chat) chat.unread = 0;
    this.desk.loadContext(id);
    this.render();
  }

  render() {
    for (const [id, chat] of this.chats) {
      show(chat.view, id === this.active);
      chat.tab.classList.toggle("active", id === this.active);
      chat.tab.dataset.unread = chat.unread ? String(chat.unread) : "";
    }
    show($("no-chats"), this.chats.size === 0 && this.offers.size === 0);
  }
}
