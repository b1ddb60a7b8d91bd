/*
 * metachat widget frame — runs in /widget/frame (our own origin), inside an
 * iframe on the tenant's site. The page's CSP forbids inline script, eval
 * and inline styles, and this file never parses anything as HTML: every
 * node is built with createElement/createTextNode/textContent.
 *
 * Protocol: DESIGN.md §7 "Widget WebSocket protocol". File map, storage
 * format and DOM contract: README.md beside this file.
 */
(() => {
  "use strict";

  const app = document.getElementById("app");
  if (!app) return;

  const publicKey = app.dataset.key || "";
  const STORAGE_KEY = "metachat:" + publicKey;
  const SESSION_URL = "/api/v1/widget/sessions";
  const WS_PATH = "/api/v1/widget/ws";
  const PENDING_TIMEOUT = 10000;
  const PING_EVERY = 25000;
  const PONG_TIMEOUT = 10000;
  const TYPING_SHOW = 4000;
  const TYPING_SEND_EVERY = 3000;
  const BACKOFF_BASE = 500;
  const BACKOFF_MAX = 30000;
  const MAX_TEXT = 4000;
  const MAX_OUTBOX = 50;
  const ROLES = new Set(["user", "assistant", "agent", "system"]);
  const inFrame = window.parent !== window;

  const DEFAULT_STRINGS = {
    placeholder: "Type a message…",
    send: "Send",
    close: "Close chat",
    connecting: "Connecting…",
    offline: "Offline — your messages will be sent when you are back online",
    failed: "Not sent — tap to retry",
    agent_joined: "An agent has joined the conversation",
    resolved: "This conversation was marked as resolved",
    refused: "This chat is not available here",
    typing: "Typing…",
    sources: "Sources",
    agent: "Agent",
  };
  let strings = {};
  const t = (k) => (typeof strings[k] === "string" && strings[k] ? strings[k] : DEFAULT_STRINGS[k] || "");

  /* ---------- storage: localStorage when allowed, memory otherwise ---------- */

  const store = { token: "", outbox: [], read_seq: 0 };

  function loadStore() {
    try {
      const raw = window.localStorage.getItem(STORAGE_KEY);
      if (!raw) return;
      const d = JSON.parse(raw);
      if (!d || typeof d !== "object") return;
      if (typeof d.token === "string") store.token = d.token;
      if (Array.isArray(d.outbox)) {
        store.outbox = d.outbox
          .filter((o) => o && typeof o.client_id === "string" && o.client_id && typeof o.text === "string" && o.text)
          .slice(-MAX_OUTBOX)
          .map((o) => ({ client_id: o.client_id.slice(0, 100), text: o.text.slice(0, MAX_TEXT) }));
      }
      if (Number.isFinite(d.read_seq) && d.read_seq > 0) store.read_seq = d.read_seq;
    } catch (e) {
      /* blocked or corrupt storage: memory only */
    }
  }

  function saveStore() {
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(store));
    } catch (e) {
      /* blocked or full storage: memory only */
    }
  }

  function dropFromOutbox(clientID) {
    const before = store.outbox.length;
    store.outbox = store.outbox.filter((o) => o.client_id !== clientID);
    if (store.outbox.length !== before) saveStore();
  }

  /* ---------- DOM helpers ---------- */

  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "text") node.textContent = v;
        else if (k === "className") node.className = v;
        else if (k === "hidden") node.hidden = true;
        else node.setAttribute(k, v === true ? "" : String(v));
      }
    }
    if (children) for (const c of children) if (c) node.append(c);
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function icon(d) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "currentColor");
    svg.append(path);
    return svg;
  }

  const URL_RE = /https?:\/\/[^\s<>"']+/g;
  const TRAILING = /[.,;:!?]+$/;

  // linkify turns text into a fragment of text nodes and <a> elements. The
  // text is never parsed as HTML; a URL part becomes a link only when the
  // URL parser accepts it with an http(s) scheme.
  function linkify(raw) {
    const text = String(raw);
    const frag = document.createDocumentFragment();
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      let url = m[0];
      let tail = "";
      // Sentence punctuation and an unbalanced ")" after a URL belong to
      // the sentence, not the link.
      const p = url.match(TRAILING);
      if (p) {
        tail = p[0];
        url = url.slice(0, -tail.length);
      }
      if (url.endsWith(")") && !url.includes("(")) {
        url = url.slice(0, -1);
        tail = ")" + tail;
      }
      if (m.index > last) frag.append(document.createTextNode(text.slice(last, m.index)));
      frag.append(linkNode(url));
      if (tail) frag.append(document.createTextNode(tail));
      last = m.index + m[0].length;
    }
    if (last < text.length) frag.append(document.createTextNode(text.slice(last)));
    return frag;
  }

  function linkNode(part) {
    let parsed = null;
    try {
      parsed = new URL(part);
    } catch (e) {
      parsed = null;
    }
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      return document.createTextNode(part);
    }
    const a = document.createElement("a");
    a.href = parsed.href;
    a.rel = "noopener noreferrer nofollow";
    a.target = "_blank";
    a.textContent = part;
    return a;
  }

  function safeHTTPURL(raw) {
    if (typeof raw !== "string" || !raw) return "";
    try {
      const u = new URL(raw, location.href);
      return u.protocol === "https:" || u.protocol === "http:" ? u.href : "";
    } catch (e) {
      return "";
    }
  }

  /* ---------- UI ---------- */

  const avatar = el("img", { id: "avatar", className: "avatar", alt: "", width: 32, height: 32, hidden: true });
  const title = el("h1", { id: "title", text: "Chat" });
  const closeBtn = el("button", { id: "close", type: "button", className: "icon-button" }, [
    icon("M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z"),
  ]);
  const header = el("header", { className: "header" }, [avatar, title, closeBtn]);
  const statusEl = el("div", { id: "status", role: "status", "aria-live": "polite", hidden: true });
  const list = el("div", { id: "messages", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: 0 });
  const suggestions = el("div", { id: "suggestions", hidden: true });
  const typingText = el("span", { className: "typing-text" });
  const typing = el("div", { id: "typing", "aria-live": "polite", hidden: true }, [
    el("span", { className: "dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    typingText,
  ]);
  const inputLabel = el("label", { for: "input", className: "visually-hidden" });
  const input = el("textarea", { id: "input", rows: 1, maxlength: MAX_TEXT, autocomplete: "off", enterkeyhint: "send" });
  const sendLabel = el("span", { className: "visually-hidden" });
  const sendBtn = el("button", { id: "send", type: "submit" }, [
    icon("M3.4 20.4 21.3 12.8a.9.9 0 0 0 0-1.6L3.4 3.6a.9.9 0 0 0-1.3 1l1.9 6.4 9 1-9 1-1.9 6.4a.9.9 0 0 0 1.3 1z"),
    sendLabel,
  ]);
  const composer = el("form", { id: "composer", novalidate: true }, [inputLabel, input, sendBtn]);
  app.replaceChildren(header, statusEl, list, suggestions, typing, composer);

  function applyStrings() {
    closeBtn.setAttribute("aria-label", t("close"));
    closeBtn.title = t("close");
    input.placeholder = t("placeholder");
    inputLabel.textContent = t("placeholder");
    sendLabel.textContent = t("send");
    sendBtn.title = t("send");
    typingText.textContent = t("typing");
    for (const b of list.querySelectorAll(".msg.failed .note")) b.textContent = t("failed");
    for (const s of list.querySelectorAll(".sources-title")) s.textContent = t("sources");
    for (const s of list.querySelectorAll(".msg[data-role=agent] .label")) s.textContent = t("agent");
    renderStatus();
  }

  /* ---------- state ---------- */

  let state = "connecting"; // connecting | connected | offline | refused
  let refusedDetail = "";
  let flashText = "";
  let flashTimer = 0;
  let lastSeq = 0;
  let conversationID = null;
  let convStatus = null;
  let socket = null;
  let failures = 0;
  let authFailures = 0;
  let retryTimer = 0;
  let retryFn = null;
  let pingTimer = 0;
  let pongTimer = 0;
  let typingTimer = 0;
  let lastTypingSent = 0;
  let unread = 0;
  let parentOpen = !inFrame; // shown unless the loader tells us otherwise
  const pendingTimers = new Map(); // client_id → timeout
  const streaming = new Map(); // message_id → {node, text}
  const finished = new Set(); // message ids rendered for good (late deltas are ignored)

  function setState(s) {
    state = s;
    renderStatus();
  }

  function renderStatus() {
    let text = "";
    let cls = "";
    if (state === "refused") {
      text = refusedDetail || t("refused");
      cls = "refused";
    } else if (flashText) {
      text = flashText;
      cls = "notice";
    } else if (state === "offline") {
      text = t("offline");
      cls = "offline";
    } else if (state === "connecting") {
      text = t("connecting");
      cls = "connecting";
    }
    statusEl.className = cls;
    statusEl.textContent = text;
    statusEl.hidden = !text;
    app.classList.toggle("refused", state === "refused");
  }

  function flash(text) {
    if (!text) return;
    flashText = String(text).slice(0, 300);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => {
      flashText = "";
      renderStatus();
    }, 5000);
    renderStatus();
  }

  function refuse(detail) {
    refusedDetail = typeof detail === "string" && detail ? detail.slice(0, 500) : "";
    stopRetry();
    dropSocket();
    input.disabled = true;
    sendBtn.disabled = true;
    suggestions.hidden = true;
    setState("refused");
  }

  /* ---------- parent window ---------- */

  function postParent(data) {
    if (!inFrame) return;
    try {
      window.parent.postMessage(data, "*"); // nothing secret: state only
    } catch (e) {
      /* ignore */
    }
  }

  const isHidden = () => document.hidden || !parentOpen;

  function markRead() {
    if (isHidden()) return;
    if (unread) {
      unread = 0;
      postParent({ metachat: "unread", count: 0 });
    }
    if (lastSeq > store.read_seq) {
      store.read_seq = lastSeq;
      saveStore();
    }
  }

  window.addEventListener("message", (e) => {
    if (!inFrame || e.source !== window.parent) return;
    const d = e.data;
    if (!d || typeof d !== "object") return;
    if (d.metachat === "open") {
      parentOpen = true;
      markRead();
      scrollToEnd();
      if (!input.disabled && window.matchMedia && window.matchMedia("(pointer: fine)").matches) {
        input.focus({ preventScroll: true });
      }
    } else if (d.metachat === "closed") {
      parentOpen = false;
    }
  });
  document.addEventListener("visibilitychange", markRead);

  /* ---------- rendering ---------- */

  function scrollToEnd() {
    list.scrollTop = list.scrollHeight;
  }

  // Confirmed content goes before the first unconfirmed (pending or failed)
  // bubble: those are the newest until the server gives them a seq.
  function insertConfirmed(node) {
    const first = list.querySelector(".msg.pending, .msg.failed");
    list.insertBefore(node, first && first !== node ? first : null);
  }

  function bubble(role, text, opts) {
    const o = opts || {};
    const node = el("div", { className: "msg" + (o.extra ? " " + o.extra : "") });
    node.dataset.role = role;
    if (o.seq) node.dataset.seq = String(o.seq);
    if (o.clientID) node.dataset.clientId = o.clientID;
    if (o.id) node.dataset.id = o.id;
    fillBubble(node, role, text, o.citations, o.createdAt);
    return node;
  }

  function fillBubble(node, role, text, citations, createdAt) {
    const parts = [];
    if (role === "agent") parts.push(el("span", { className: "label", text: t("agent") }));
    const body = el("div", { className: "text" });
    body.append(linkify(String(text || "")));
    parts.push(body);
    const sources = role === "assistant" ? sourcesList(citations) : null;
    if (sources) parts.push(sources);
    node.replaceChildren(...parts);
    if (createdAt) {
      const d = new Date(createdAt);
      if (!isNaN(d)) node.title = d.toLocaleString();
    }
  }

  function sourcesList(citations) {
    if (!Array.isArray(citations) || !citations.length) return null;
    const seen = new Set();
    const items = [];
    for (const c of citations) {
      if (!c || typeof c !== "object") continue;
      let label = typeof c.title === "string" && c.title.trim() ? c.title.trim() : typeof c.snippet === "string" ? c.snippet.trim() : "";
      if (!label) continue;
      if (label.length > 140) label = label.slice(0, 139) + "…";
      if (seen.has(label)) continue;
      seen.add(label);
      items.push(el("li", { text: label }));
      if (items.length >= 5) break;
    }
    if (!items.length) return null;
    return el("div", { className: "sources" }, [el("span", { className: "sources-title", text: t("sources") }), el("ol", null, items)]);
  }

  function findByClientID(clientID) {
    for (const n of list.querySelectorAll(".msg[data-client-id]")) if (n.dataset.clientId === clientID) return n;
    return null;
  }

  function notice(text) {
    const node = el("div", { className: "msg notice" });
    node.dataset.role = "system";
    node.textContent = text;
    insertConfirmed(node);
    scrollToEnd();
  }

  let greetingNode = null;
  function showGreeting(text) {
    if (!text) {
      if (greetingNode) greetingNode.remove();
      greetingNode = null;
      return;
    }
    const node = bubble("assistant", text, { extra: "greeting" });
    if (greetingNode) greetingNode.replaceWith(node);
    else list.prepend(node);
    greetingNode = node;
  }

  function showSuggestions(items) {
    const buttons = [];
    if (Array.isArray(items)) {
      for (const s of items) {
        if (typeof s !== "string" || !s.trim()) continue;
        const text = s.trim().slice(0, 200);
        const b = el("button", { type: "button", className: "suggestion", text });
        b.addEventListener("click", () => submitText(text));
        buttons.push(b);
        if (buttons.length >= 6) break;
      }
    }
    suggestions.replaceChildren(...buttons);
    updateSuggestions();
  }

  function updateSuggestions() {
    const visitorSpoke = !!list.querySelector('.msg[data-role="user"]');
    suggestions.hidden = visitorSpoke || state === "refused" || !suggestions.firstChild;
  }

  function onMessageFrame(f) {
    const seq = Number(f.seq);
    const m = f.message && typeof f.message === "object" ? f.message : null;
    if (!Number.isFinite(seq) || !m) return;
    const clientID = typeof m.client_id === "string" && m.client_id ? m.client_id : "";
    if (seq <= lastSeq) {
      // Already rendered: a resend the server recognised answers with the
      // stored message. Settle the matching pending bubble, if any.
      if (clientID) {
        const pend = findByClientID(clientID);
        if (pend && (pend.classList.contains("pending") || pend.classList.contains("failed"))) {
          const shown = list.querySelector('.msg[data-seq="' + seq + '"]');
          if (shown && shown !== pend) pend.remove();
          else confirmBubble(pend, m, seq);
        }
        settle(clientID);
      }
      return;
    }
    lastSeq = seq;
    const role = ROLES.has(m.role) ? m.role : "";
    const id = typeof m.id === "string" ? m.id : "";
    if (clientID) settle(clientID);
    if (role) {
      const pend = clientID ? findByClientID(clientID) : null;
      const stream = id ? streaming.get(id) : null;
      if (pend) {
        confirmBubble(pend, m, seq);
      } else if (stream) {
        const node = bubble(role, m.text, { seq, id, clientID, citations: m.citations, createdAt: m.created_at });
        stream.node.replaceWith(node);
      } else {
        insertConfirmed(bubble(role, m.text, { seq, id, clientID, citations: m.citations, createdAt: m.created_at }));
      }
      if (role === "assistant" || role === "agent") {
        hideTyping();
        if (isHidden() && seq > store.read_seq) {
          unread++;
          postParent({ metachat: "unread", count: unread });
        }
      }
      scrollToEnd();
    }
    if (id) {
      finished.add(id);
      const stream = streaming.get(id);
      if (stream) {
        if (stream.node.isConnected) stream.node.remove();
        streaming.delete(id);
      }
    }
    updateSuggestions();
    markRead();
  }

  function confirmBubble(node, m, seq) {
    node.classList.remove("pending", "failed");
    node.removeAttribute("role");
    node.removeAttribute("tabindex");
    node.removeAttribute("aria-label");
    node.dataset.seq = String(seq);
    if (typeof m.id === "string") node.dataset.id = m.id;
    fillBubble(node, "user", m.text, null, m.created_at);
    insertConfirmed(node);
  }

  // settle forgets an outbox item the server has stored.
  function settle(clientID) {
    clearTimeout(pendingTimers.get(clientID));
    pendingTimers.delete(clientID);
    dropFromOutbox(clientID);
  }

  function onDelta(f) {
    const id = typeof f.message_id === "string" ? f.message_id : "";
    if (!id || finished.has(id) || typeof f.text !== "string") return;
    let s = streaming.get(id);
    if (!s) {
      const node = el("div", { className: "msg streaming", "aria-busy": "true" });
      node.dataset.role = "assistant";
      node.dataset.streamingId = id;
      s = { node, text: "", body: el("div", { className: "text" }) };
      node.append(s.body);
      streaming.set(id, s);
      insertConfirmed(node);
    }
    hideTyping();
    s.text += f.text;
    s.body.textContent = s.text;
    scrollToEnd();
  }

  function onStatus(f) {
    const s = f.status;
    if (s !== "bot" && s !== "human" && s !== "resolved") return;
    if (s === convStatus) return; // repeated after every (re)connect
    convStatus = s;
    if (s === "human") notice(t("agent_joined"));
    else if (s === "resolved") notice(t("resolved"));
  }

  function showTyping(role) {
    if (role === "user") return;
    typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOW);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typing.hidden = true;
  }

  // adoptConversation follows the conversation the server names (from the
  // session answer or a ready frame; "" or null: none yet). When it differs
  // from the one on screen (a new visitor after a refused token, say), the
  // history shown belongs to someone else: clear it and start from seq 0.
  // It returns true when it did so.
  function adoptConversation(raw) {
    const id = typeof raw === "string" && raw ? raw : null;
    if (id === conversationID) return false;
    if (conversationID === null) {
      conversationID = id;
      return false;
    }
    conversationID = id;
    for (const n of list.querySelectorAll(".msg:not(.pending):not(.failed):not(.greeting)")) n.remove();
    streaming.clear();
    finished.clear();
    lastSeq = 0;
    convStatus = null;
    store.read_seq = 0;
    saveStore();
    return true;
  }

  /* ---------- sending ---------- */

  function newClientID() {
    try {
      if (crypto.randomUUID) return crypto.randomUUID();
    } catch (e) {
      /* insecure context: fall through */
    }
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function submitText(raw) {
    if (state === "refused") return false;
    const text = String(raw).trim().slice(0, MAX_TEXT);
    if (!text) return false;
    const clientID = newClientID();
    store.outbox.push({ client_id: clientID, text });
    if (store.outbox.length > MAX_OUTBOX) store.outbox.splice(0, store.outbox.length - MAX_OUTBOX);
    saveStore();
    list.append(pendingBubble(clientID, text));
    updateSuggestions();
    scrollToEnd();
    transmit(clientID, text);
    return true;
  }

  function pendingBubble(clientID, text) {
    const node = bubble("user", text, { clientID, extra: "pending" });
    node.addEventListener("click", () => retry(node));
    node.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        retry(node);
      }
    });
    armPending(clientID);
    return node;
  }

  // armPending (re)starts the 10 s a message has to be confirmed.
  function armPending(clientID) {
    clearTimeout(pendingTimers.get(clientID));
    pendingTimers.set(
      clientID,
      setTimeout(() => {
        pendingTimers.delete(clientID);
        failBubble(clientID);
      }, PENDING_TIMEOUT)
    );
  }

  function failBubble(clientID) {
    const node = findByClientID(clientID);
    if (!node || !(node.classList.contains("pending") || node.classList.contains("failed"))) return;
    clearTimeout(pendingTimers.get(clientID));
    pendingTimers.delete(clientID);
    node.classList.remove("pending");
    node.classList.add("failed");
    node.setAttribute("role", "button");
    node.setAttribute("tabindex", "0");
    const text = node.querySelector(".text");
    node.setAttribute("aria-label", (text ? text.textContent + " — " : "") + t("failed"));
    let note = node.querySelector(".note");
    if (!note) {
      note = el("span", { className: "note", "aria-hidden": "true" });
      node.append(note);
    }
    note.textContent = t("failed");
  }

  function setPending(node) {
    node.classList.remove("failed");
    node.classList.add("pending");
    node.removeAttribute("role");
    node.removeAttribute("tabindex");
    node.removeAttribute("aria-label");
    const note = node.querySelector(".note");
    if (note) note.remove();
  }

  function retry(node) {
    if (!node.classList.contains("failed") || state === "refused") return;
    const clientID = node.dataset.clientId;
    let item = store.outbox.find((o) => o.client_id === clientID);
    if (!item) {
      const body = node.querySelector(".text");
      item = { client_id: clientID, text: body ? body.textContent : "" };
      if (!item.text) return;
      store.outbox.push(item);
      saveStore();
    }
    const hadFocus = document.activeElement === node;
    setPending(node);
    armPending(clientID);
    transmit(clientID, item.text);
    if (hadFocus) input.focus({ preventScroll: true });
  }

  function transmit(clientID, text) {
    if (state === "connected") send({ type: "message", client_id: clientID, text });
    // otherwise it waits in the outbox for the next "ready"
  }

  function flushOutbox() {
    for (const item of store.outbox) {
      let node = findByClientID(item.client_id);
      if (!node) {
        node = pendingBubble(item.client_id, item.text);
        list.append(node);
      } else if (node.classList.contains("failed") || node.classList.contains("pending")) {
        setPending(node);
        armPending(item.client_id);
      }
      send({ type: "message", client_id: item.client_id, text: item.text });
    }
    if (store.outbox.length) {
      updateSuggestions();
      scrollToEnd();
    }
  }

  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    if (submitText(input.value)) {
      input.value = "";
      autosize();
    }
    input.focus({ preventScroll: true });
  });

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      if (submitText(input.value)) {
        input.value = "";
        autosize();
      }
    }
  });

  // Some input paths deliver Enter's character separately from its
  // keydown; without this the textarea would keep a stray newline after
  // sending.
  input.addEventListener("keypress", (e) => {
    if (e.key === "Enter" && !e.shiftKey) e.preventDefault();
  });

  input.addEventListener("input", () => {
    autosize();
    const now = Date.now();
    if (state === "connected" && input.value.trim() && now - lastTypingSent > TYPING_SEND_EVERY) {
      lastTypingSent = now;
      send({ type: "typing" });
    }
  });

  // autosize grows the textarea with its text up to 120px, then scrolls.
  function autosize() {
    input.style.height = "auto";
    const border = input.offsetHeight - input.clientHeight;
    const want = input.scrollHeight + border;
    input.style.height = Math.min(want, 120) + "px";
    input.style.overflowY = want > 120 ? "auto" : "hidden";
  }

  closeBtn.addEventListener("click", () => postParent({ metachat: "close" }));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && inFrame) postParent({ metachat: "close" });
  });

  /* ---------- retries ---------- */

  function stopRetry() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    retryFn = null;
  }

  // scheduleRetry runs fn after an exponential backoff with full jitter.
  function scheduleRetry(fn) {
    stopRetry();
    failures++;
    setState(!navigator.onLine || failures >= 2 ? "offline" : "connecting");
    const cap = Math.min(BACKOFF_MAX, BACKOFF_BASE * 2 ** Math.min(failures - 1, 16));
    retryFn = fn;
    retryTimer = setTimeout(() => {
      retryTimer = 0;
      retryFn = null;
      fn();
    }, Math.random() * cap);
  }

  window.addEventListener("online", () => {
    if (state === "refused") return;
    if (retryFn) {
      const fn = retryFn;
      stopRetry();
      setState("connecting");
      fn();
    } else if (state === "offline") {
      setState("connecting");
    }
  });
  window.addEventListener("offline", () => {
    if (state === "connecting") setState("offline");
  });

  /* ---------- session ---------- */

  function hostOrigin() {
    try {
      if (location.ancestorOrigins && location.ancestorOrigins.length) return location.ancestorOrigins[0];
    } catch (e) {
      /* ignore */
    }
    try {
      return document.referrer ? new URL(document.referrer).origin : "";
    } catch (e) {
      return "";
    }
  }

  async function readProblem(res) {
    try {
      const p = await res.json();
      return p && typeof p.detail === "string" && p.detail ? p.detail : p && typeof p.title === "string" ? p.title : "";
    } catch (e) {
      return "";
    }
  }

  async function startSession(mayRetryUnauthorized = true) {
    if (state === "refused") return;
    if (state === "connected") setState("connecting");
    const body = { public_key: publicKey, host_origin: hostOrigin(), language: navigator.language || "" };
    if (store.token) body.visitor_token = store.token;
    let res;
    try {
      res = await fetch(SESSION_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (e) {
      scheduleRetry(startSession);
      return;
    }
    if (res.status === 401 && mayRetryUnauthorized) {
      store.token = "";
      saveStore();
      startSession(false);
      return;
    }
    if (res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500) {
      scheduleRetry(startSession);
      return;
    }
    if (!res.ok) {
      refuse(await readProblem(res));
      return;
    }
    let data;
    try {
      data = await res.json();
    } catch (e) {
      scheduleRetry(startSession);
      return;
    }
    if (!data || typeof data.visitor_token !== "string" || !data.visitor_token) {
      scheduleRetry(startSession);
      return;
    }
    store.token = data.visitor_token;
    saveStore();
    applyConfig(data.config && typeof data.config === "object" ? data.config : {});
    adoptConversation(data.conversation_id);
    connect();
  }

  function hexContrast(color) {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
    if (!m) return "";
    let h = m[1];
    if (h.length === 3) h = h.replace(/./g, "$&$&");
    const lin = (i) => {
      const c = parseInt(h.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    const lum = 0.2126 * lin(0) + 0.7152 * lin(2) + 0.0722 * lin(4);
    // White text unless black reads clearly better on this colour.
    return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) + 2 ? "#000000" : "#ffffff";
  }

  function applyConfig(cfg) {
    strings = cfg.strings && typeof cfg.strings === "object" ? cfg.strings : {};
    title.textContent = typeof cfg.title === "string" && cfg.title ? cfg.title : "Chat";
    document.title = title.textContent;
    const root = document.documentElement;
    let accent = "";
    let contrast = "";
    if (typeof cfg.accent_color === "string" && cfg.accent_color && window.CSS && CSS.supports("color", cfg.accent_color)) {
      accent = cfg.accent_color;
      root.style.setProperty("--accent", accent);
      contrast = hexContrast(accent);
      if (contrast) root.style.setProperty("--accent-contrast", contrast);
    }
    if (typeof cfg.language === "string" && cfg.language) {
      root.lang = cfg.language;
      root.dir = /^(ar|he|fa|ur|ps|yi|dv|ckb)(-|$)/i.test(cfg.language) ? "rtl" : "ltr";
    }
    const av = safeHTTPURL(cfg.avatar_url);
    if (av) {
      avatar.src = av;
      avatar.hidden = false;
    } else {
      avatar.removeAttribute("src");
      avatar.hidden = true;
    }
    showGreeting(typeof cfg.greeting === "string" ? cfg.greeting : "");
    showSuggestions(cfg.suggestions);
    applyStrings();
    const ready = { metachat: "ready" };
    if (accent) ready.accent_color = accent;
    if (contrast) ready.accent_contrast = contrast;
    if (cfg.position === "left" || cfg.position === "right") ready.position = cfg.position;
    postParent(ready);
  }

  /* ---------- live connection ---------- */

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  function stopKeepalive() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    pingTimer = 0;
    pongTimer = 0;
  }

  // dropSocket forgets the current socket without triggering its handlers.
  function dropSocket() {
    stopKeepalive();
    const ws = socket;
    socket = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch (e) {
      /* ignore */
    }
  }

  function lost() {
    dropSocket();
    if (state !== "refused") scheduleRetry(connect);
  }

  function connect() {
    stopRetry();
    dropSocket();
    if (state === "refused") return;
    if (state === "connected") setState("connecting");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + WS_PATH;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleRetry(connect);
      return;
    }
    socket = ws;
    ws.onopen = () => {
      send({ type: "hello", token: store.token, after_seq: lastSeq });
      pingTimer = setInterval(() => {
        if (!send({ type: "ping" })) return;
        clearTimeout(pongTimer);
        pongTimer = setTimeout(lost, PONG_TIMEOUT);
      }, PING_EVERY);
    };
    ws.onmessage = (e) => {
      let f;
      try {
        f = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      if (f && typeof f === "object") onFrame(f);
    };
    ws.onclose = lost;
    ws.onerror = lost;
  }

  function onFrame(f) {
    switch (f.type) {
      case "ready":
        if (adoptConversation(f.conversation_id)) {
          // Resume the new conversation from its start.
          connect();
          return;
        }
        failures = 0;
        authFailures = 0;
        setState("connected");
        flushOutbox();
        break;
      case "message":
        onMessageFrame(f);
        break;
      case "delta":
        onDelta(f);
        break;
      case "status":
        onStatus(f);
        break;
      case "typing":
        showTyping(f.role);
        break;
      case "pong":
        clearTimeout(pongTimer);
        pongTimer = 0;
        break;
      case "error":
        onError(f);
        break;
    }
  }

  function onError(f) {
    const detail = typeof f.detail === "string" ? f.detail : "";
    if (f.code === "unauthorized") {
      dropSocket();
      store.token = "";
      saveStore();
      setState("connecting");
      authFailures++;
      if (authFailures === 1) startSession();
      else scheduleRetry(startSession);
      return;
    }
    const clientID = typeof f.client_id === "string" ? f.client_id : "";
    if ((f.code === "rate_limited" || f.code === "invalid_message") && clientID && findByClientID(clientID)) {
      // A message the server will never take as it is leaves the outbox
      // (tapping the bubble puts it back); a rate-limited one stays queued.
      if (f.code === "invalid_message") dropFromOutbox(clientID);
      failBubble(clientID);
      if (detail) flash(detail);
      return;
    }
    flash(detail);
  }

  /* ---------- start ---------- */

  loadStore();
  applyStrings();
  for (const item of store.outbox) list.append(pendingBubble(item.client_id, item.text));
  updateSuggestions();
  postParent({ metachat: "ready" });

  try {
    Object.defineProperty(window, "__metachat", {
      value: Object.freeze({ state: () => state, lastSeq: () => lastSeq }),
      writable: false,
      configurable: false,
    });
  } catch (e) {
    /* defined already */
  }

  if (!publicKey) refuse("");
  else startSession();
})();
