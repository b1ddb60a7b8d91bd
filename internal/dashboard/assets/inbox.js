// metachat inbox: live list and thread, canned responses, keyboard
// shortcuts. The page works without this file. Data from the server is
// only ever put into the page with textContent (the CSP allows no inline
// code, and nothing here parses HTML).
(function () {
  "use strict";

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = text;
    return n;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var inbox = document.getElementById("inbox");
    if (!inbox) return;
    var convID = inbox.getAttribute("data-conversation") || "";
    var lastSeq = parseInt(inbox.getAttribute("data-last-seq") || "0", 10) || 0;
    var query = inbox.getAttribute("data-query") || "";
    var list = document.getElementById("conv-list");
    var messages = document.getElementById("messages");
    var status = document.getElementById("live-status");

    // --- the list -------------------------------------------------------
    function rowItem(r) {
      var li = el("li");
      li.setAttribute("data-id", r.id);
      var a = el("a");
      a.href = r.href;
      if (r.id === convID) {
        li.className = "current";
        a.setAttribute("aria-current", "true");
      }
      var top = el("span", "conv-top");
      top.appendChild(el("span", "conv-name", r.name));
      if (r.unread > 0) {
        top.appendChild(document.createTextNode(" "));
        var u = el("span", "unread", String(r.unread));
        u.title = list.getAttribute("data-unread");
        u.appendChild(el("span", "visually-hidden", " " + list.getAttribute("data-unread")));
        top.appendChild(u);
      }
      a.appendChild(top);
      a.appendChild(el("span", "conv-text", r.last_text));
      var meta = el("span", "conv-meta");
      meta.appendChild(el("span", "badge status-" + r.status, r.status_label));
      var rest = " " + r.channel + (r.assignee ? " · " + r.assignee : "") + " · ";
      meta.appendChild(document.createTextNode(rest));
      meta.appendChild(el("time", "", r.at));
      a.appendChild(meta);
      li.appendChild(a);
      return li;
    }

    var listTimer = null;
    function refreshList() {
      if (listTimer) return;
      listTimer = setTimeout(function () {
        listTimer = null;
        getJSON("/app/inbox/rows" + query).then(function (data) {
          var rows = data.rows || [];
          while (list.firstChild) list.removeChild(list.firstChild);
          rows.forEach(function (r) {
            if (r.id === convID) r.unread = 0; // on screen: read
            list.appendChild(rowItem(r));
          });
          if (rows.length === 0) list.appendChild(el("li", "empty", list.getAttribute("data-empty")));
          rows.forEach(function (r) {
            if (r.id === convID) {
              var sel = document.getElementById("assignee");
              if (sel && document.activeElement !== sel) sel.value = r.assignee_id || "";
            }
          });
        }).catch(function () { /* the next event tries again */ });
      }, 200);
    }

    // --- the thread -----------------------------------------------------
    function messageItem(m) {
      var li = el("li", "msg role-" + m.role);
      li.setAttribute("data-id", m.id);
      li.setAttribute("data-seq", String(m.seq));
      var head = el("p", "msg-head");
      head.appendChild(el("span", "msg-role", m.role_label));
      head.appendChild(document.createTextNode(" "));
      head.appendChild(el("time", "", m.at));
      if (m.delivery) {
        head.appendChild(document.createTextNode(" "));
        var tick = el("span", "tick delivery-" + m.delivery, m.delivery_label);
        if (m.delivery_error) tick.title = m.delivery_error;
        head.appendChild(tick);
      }
      li.appendChild(head);
      li.appendChild(el("p", "msg-text", m.text));
      if (m.delivery_error) li.appendChild(el("p", "field-error", m.delivery_error));
      if (m.citations && m.citations.length) {
        var ul = el("ul", "citations");
        m.citations.forEach(function (c) {
          var ci = el("li");
          ci.appendChild(el("strong", "", c.title));
          ci.appendChild(document.createTextNode(" " + c.snippet));
          ul.appendChild(ci);
        });
        li.appendChild(ul);
      }
      return li;
    }

    var fetching = false, again = false;
    function refreshThread(all) {
      if (!convID || !messages) return;
      if (fetching) { again = true; return; }
      fetching = true;
      var after = all ? 0 : lastSeq;
      getJSON("/app/inbox/" + convID + "/messages?after=" + after).then(function (data) {
        if (all) while (messages.firstChild) messages.removeChild(messages.firstChild);
        (data.messages || []).forEach(function (m) {
          var old = messages.querySelector('li[data-id="' + m.id + '"]');
          if (old) { messages.replaceChild(messageItem(m), old); return; }
          messages.appendChild(messageItem(m));
          lastSeq = Math.max(lastSeq, m.seq);
        });
        var st = document.getElementById("thread-status");
        if (st && data.status) {
          st.textContent = data.status_label;
          st.className = "badge status-" + data.status;
        }
        var last = messages.lastElementChild;
        if (last && last.scrollIntoView) last.scrollIntoView({ block: "nearest" });
        var body = new URLSearchParams({ csrf: window.metachat.csrfToken(), seq: String(lastSeq) });
        return fetch("/app/inbox/" + convID + "/read", { method: "POST", credentials: "same-origin", body: body });
      }).catch(function () { /* the next event tries again */ }).then(function () {
        fetching = false;
        if (again) { again = false; refreshThread(false); }
      });
    }

    // refreshDelivery re-reads the open thread's last messages (delivery
    // ticks change on messages already shown).
    function refreshDelivery() {
      if (!convID) return;
      var saved = lastSeq;
      lastSeq = Math.max(0, lastSeq - 20);
      refreshThread(false);
      lastSeq = Math.max(lastSeq, saved);
    }

    // --- the live stream ------------------------------------------------
    if (window.EventSource) {
      var es = new EventSource("/app/inbox/events");
      es.addEventListener("open", function () {
        status.textContent = status.getAttribute("data-live");
        inbox.setAttribute("data-live", "true");
      });
      es.addEventListener("error", function () {
        status.textContent = status.getAttribute("data-offline");
        inbox.removeAttribute("data-live");
      });
      function on(type, fn) {
        es.addEventListener(type, function (ev) {
          var d = {};
          try { d = JSON.parse(ev.data); } catch (e) { return; }
          fn(d);
        });
      }
      on("message", function (d) {
        refreshList();
        if (d.conversation_id === convID) refreshThread(false);
      });
      on("status", function (d) {
        refreshList();
        if (d.conversation_id === convID) refreshThread(false);
      });
      on("assignment", function () { refreshList(); });
      on("delivery", function (d) {
        if (d.conversation_id === convID) refreshDelivery();
      });
      on("resync", function () {
        refreshList();
        refreshThread(true);
      });
      on("end", function () {
        es.close();
        status.textContent = status.getAttribute("data-offline");
        inbox.removeAttribute("data-live");
      });
    }

    // --- canned responses -----------------------------------------------
    document.querySelectorAll("select[data-canned-target]").forEach(function (sel) {
      sel.addEventListener("change", function () {
        var box = document.getElementById(sel.getAttribute("data-canned-target"));
        if (!box || !sel.value) return;
        var start = box.selectionStart || 0, end = box.selectionEnd || 0;
        box.value = box.value.slice(0, start) + sel.value + box.value.slice(end);
        box.focus();
        box.selectionStart = box.selectionEnd = start + sel.value.length;
        sel.value = "";
      });
    });

    // --- keyboard shortcuts ---------------------------------------------
    var help = document.getElementById("inbox-help");
    function toggleHelp() {
      if (!help || !help.showModal) return;
      if (help.open) help.close(); else help.showModal();
    }
    document.querySelectorAll("[data-inbox-help]").forEach(function (b) { b.addEventListener("click", toggleHelp); });

    function typing(t) {
      if (!t || !t.tagName) return false;
      var tag = t.tagName.toLowerCase();
      return tag === "input" || tag === "textarea" || tag === "select" || t.isContentEditable;
    }
    function go(step) {
      var links = Array.prototype.slice.call(list.querySelectorAll("li[data-id] > a"));
      if (!links.length) return;
      var i = links.findIndex(function (a) { return a.parentNode.getAttribute("data-id") === convID; });
      var j = i < 0 ? 0 : Math.min(links.length - 1, Math.max(0, i + step));
      if (j !== i) window.location.href = links[j].href;
    }
    function submit(id) {
      var f = document.getElementById(id);
      if (f) f.requestSubmit ? f.requestSubmit() : f.submit();
    }
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
      if (help && help.open && ev.key !== "?") return;
      switch (ev.key) {
        case "j": go(1); break;
        case "k": go(-1); break;
        case "r": {
          var box = document.getElementById("reply-text");
          if (!box) return;
          box.focus();
          break;
        }
        case "t": submit("act-takeover"); break;
        case "e": submit("act-resolve"); break;
        case "?": toggleHelp(); break;
        default: return;
      }
      ev.preventDefault();
    });
  });
})();
