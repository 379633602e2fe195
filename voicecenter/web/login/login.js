import { api, homeOf, saveSession } from "/ui/common/api.js";

const form = document.getElementById("login");
const message = document.getElementById("message");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.textContent = "";
  const name = form.name.value.trim();
  const password = form.password.value;
  try {
    const answer = await api("POST", "/auth/login", { name, password });
    saveSession(answer);
    // The browser softphone registers with the same credentials; it lives only in this tab.
    if (answer.user.role === "agent") sessionStorage.setItem("voicecenter.sip", password);
    const next = new URLSearchParams(location.search).get("next");
    location.replace(next && next.startsWith("/ui/") ? next : homeOf(answer.user.role));
  } catch (error) {
    message.textContent = error.status === 429
      ? `Too many wrong passwords: try again in ${error.body.details.retry_after_s} s.`
      : error.message;
  }
});
