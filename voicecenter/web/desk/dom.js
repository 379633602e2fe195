// Small DOM helpers: build nodes with text only (never HTML from data).

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

export function text(value) {
  if (value === undefined || value === null || value === "") return "-";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function clock(iso) {
  const date = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString();
}

let noticeTimer = null;

// One line of feedback at the top; errors stay until the next notice.
export function notice(message, kind = "info") {
  const node = $("notice");
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== "error") noticeTimer = setTimeout(() => { node.hidden = true; }, 5000);
}

// Run an action from a button; show the API's message when it fails.
export async function act(what, action) {
  try {
    const result = await action();
    return result;
  } catch (error) {
    const message = (error.body && error.body.message) || error.message || String(error);
    notice(`${what}: ${message}`, "error");
    return undefined;
  }
}
