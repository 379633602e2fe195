// The pages' one way to the API: the session from the login page, and fetch with its token.
const KEY = "voicecenter.session";
const HOMES = { agent: "/ui/desk/", supervisor: "/ui/wallboard/", qa: "/ui/qa/",
                admin: "/ui/wallboard/" };

export function session() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (saved && saved.token && saved.user && (!saved.expires_at ||
        Date.parse(saved.expires_at) > Date.now())) return saved;
  } catch (_) { /* a damaged entry is no session */ }
  return null;
}

export function saveSession(answer) {
  sessionStorage.setItem(KEY, JSON.stringify(answer));
}

export function homeOf(role) {
  return HOMES[role] || "/ui/login/";
}

function toLogin() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.replace(`/ui/login/?next=${next}`);
}

const PAGES = [
  { path: "/ui/desk/", title: "Desk", roles: ["agent"] },
  { path: "/ui/wallboard/", title: "Wallboard", roles: ["supervisor", "admin"] },
  { path: "/ui/qa/", title: "QA review", roles: ["qa", "supervisor", "admin"] },
  { path: "/ui/flows/", title: "Flows", roles: ["supervisor", "admin"] },
];

// Links to the other pages this role may open, in the page's header bar.
function addNavigation(role) {
  const bar = document.querySelector("header.bar");
  const pages = PAGES.filter((p) => p.roles.includes(role));
  if (!bar || pages.length < 2 || bar.querySelector("nav.pages")) return;
  const nav = el("nav", { class: "pages", "aria-label": "Pages" },
    pages.map((p) => location.pathname.startsWith(p.path)
      ? el("strong", {}, p.title) : el("a", { href: p.path }, p.title)));
  bar.firstElementChild ? bar.firstElementChild.after(nav) : bar.prepend(nav);
}

// The session, or off to the login page when there is none or its role may not be here.
export function requireLogin(...roles) {
  const found = session();
  if (!found) { toLogin(); throw new Error("not logged in"); }
  if (roles.length && !roles.includes(found.user.role) && found.user.role !== "admin") {
    location.replace(homeOf(found.user.role));
    throw new Error("wrong role");
  }
  addNavigation(found.user.role);
  return found;
}

export async function api(method, path, body) {
  const found = session();
  const headers = { "Accept": "application/json" };
  if (found) headers["Authorization"] = `Bearer ${found.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { method, headers,
                                     body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await answer.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (answer.status === 401 && path !== "/auth/login") {
    sessionStorage.removeItem(KEY);
    toLogin();
  }
  if (!answer.ok) {
    const error = new Error((data && data.message) || `${method} ${path}: ${answer.status}`);
    error.status = answer.status;
    error.body = data;
    throw error;
  }
  return data;
}

export async function logout() {
  try { await api("POST", "/auth/logout"); } catch (_) { /* gone already */ }
  sessionStorage.removeItem(KEY);
  location.replace("/ui/login/");
}

// Text into the page without ever interpreting it as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
