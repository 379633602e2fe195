// The customer chat widget: no framework, no CDN. It keeps the last line
// number seen and unacknowledged lines in localStorage, so a reload or a
// dropped connection resumes where it stopped and nothing typed is lost.
(function () {
  "use strict";
  var store = window.localStorage;
  var visitor = store.getItem("vc.visitor");
  if (!visitor) {
    visitor = "v" + Math.random().toString(36).slice(2) + Date.now().toString(36);
    store.setItem("vc.visitor", visitor);
  }
  var lastSeq = parseInt(store.getItem("vc.lastSeq") || "0", 10);
  var unacked = JSON.parse(store.getItem("vc.unacked") || "[]");
  var seen = {};
  var ws = null;
  var retry = 500;
  var typingTimer = null;
  var $ = function (id) { return document.getElementById(id); };

  function save() {
    store.setItem("vc.lastSeq", String(lastSeq));
    store.setItem("vc.unacked", JSON.stringify(unacked));
  }

  function show(line, pending) {
    var li = document.createElement("li");
    li.className = line.from + (pending ? " pending" : "");
    li.textContent = line.text;
    if (line.client_id) { li.dataset.client = line.client_id; }
    $("lines").appendChild(li);
    $("lines").scrollTop = $("lines").scrollHeight;
    return li;
  }

  function replies(options) {
    var box = $("replies");
    box.textContent = "";
    (options || []).forEach(function (option) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = option.label;
      b.onclick = function () { send(option.label); box.textContent = ""; };
      box.appendChild(b);
    });
  }

  function onFrame(frame) {
    if (frame.type === "welcome") {
      $("status").textContent = frame.agent ? "with " + frame.agent : "connected";
      if (frame.last_seq < lastSeq) { lastSeq = 0; save(); }  // a new conversation
      unacked.forEach(function (m) { ws.send(JSON.stringify(m)); });
    } else if (frame.type === "message") {
      if (seen[frame.seq]) { return; }
      seen[frame.seq] = true;
      if (frame.from !== "customer" || !document.querySelector("li.pending")) { show(frame); }
      if (frame.quick_replies) { replies(frame.quick_replies); }
      if (frame.agent) { $("status").textContent = "with " + frame.agent; }
      lastSeq = Math.max(lastSeq, frame.seq);
      save();
    } else if (frame.type === "ack") {
      seen[frame.seq] = true;
      unacked = unacked.filter(function (m) { return m.client_id !== frame.client_id; });
      var li = document.querySelector('li[data-client="' + frame.client_id + '"]');
      if (li) { li.classList.remove("pending"); }
      lastSeq = Math.max(lastSeq, frame.seq);
      save();
    } else if (frame.type === "typing") {
      $("typing").hidden = !frame.on;
    } else if (frame.type === "ended") {
      $("status").textContent = "conversation ended";
      lastSeq = 0; unacked = []; save();
    } else if (frame.type === "error" && frame.error === "rate-limited") {
      setTimeout(function () {
        unacked.forEach(function (m) { if (m.client_id === frame.client_id) { ws.send(JSON.stringify(m)); } });
      }, 1000);
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/chat/ws?visitor=" +
                       encodeURIComponent(visitor) + "&last_seq=" + lastSeq);
    ws.onopen = function () { retry = 500; };
    ws.onmessage = function (event) { onFrame(JSON.parse(event.data)); };
    ws.onclose = function () {
      $("status").textContent = "reconnecting...";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function send(text) {
    var message = {type: "message", text: text,
                   client_id: visitor + "-" + Date.now() + "-" + Math.random().toString(36).slice(2, 8)};
    unacked.push(message);
    save();
    show({from: "customer", text: text, client_id: message.client_id}, true);
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(message)); }
  }

  $("send").onsubmit = function (event) {
    event.preventDefault();
    var text = $("text").value.trim();
    if (text) { send(text); }
    $("text").value = "";
  };
  $("text").oninput = function () {
    if (!ws || ws.readyState !== WebSocket.OPEN) { return; }
    if (!typingTimer) { ws.send(JSON.stringify({type: "typing", on: true})); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () {
      typingTimer = null;
      if (ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify({type: "typing", on: false})); }
    }, 2000);
  };
  connect();
}());
