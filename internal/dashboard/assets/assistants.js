// metachat dashboard, assistant page: the playground. A question goes to
// POST /api/v1/chat with stream: true (the session and its CSRF header);
// the answer's Server-Sent Events are read from the response body:
// "delta" {text} pieces as they are written, then "message"
// {conversation_id, message} with the stored reply and its citations (or
// "pending" when the reply takes longer). The conversation id is kept for
// follow-up questions until "New conversation". Text only through
// textContent; no innerHTML.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function playground(box) {
    var form = document.getElementById("pg-form");
    var input = document.getElementById("pg-message");
    var log = document.getElementById("pg-log");
    var send = document.getElementById("pg-send");
    var reset = document.getElementById("pg-reset");
    var assistantID = box.getAttribute("data-assistant");
    var conversationID = "";
    box.classList.add("ready");

    function label(k) { return box.getAttribute("data-l-" + k) || ""; }

    function bubble(role, text) {
      var li = el("li", "pg-msg pg-" + role);
      li.appendChild(el("span", "pg-who", label(role === "user" ? "you" : "bot")));
      var body = el("p", "pg-text", text);
      li.appendChild(body);
      log.appendChild(li);
      li.scrollIntoView({ block: "nearest" });
      return { li: li, body: body };
    }

    function citations(li, cites) {
      if (!cites || !cites.length) return;
      var wrap = el("div", "pg-citations");
      wrap.appendChild(el("p", "pg-sources", label("sources")));
      var ol = el("ol");
      cites.forEach(function (c) {
        var item = el("li", "pg-citation");
        var a = el("a", "", c.title || c.document_id);
        a.setAttribute("href", "/app/knowledge/" + encodeURIComponent(c.document_id));
        item.appendChild(a);
        if (c.snippet) item.appendChild(el("q", "", c.snippet));
        ol.appendChild(item);
      });
      wrap.appendChild(ol);
      li.appendChild(wrap);
    }

    // readSSE calls onEvent(name, data) for each event of a streamed body.
    function readSSE(res, onEvent) {
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = "";
      function dispatch(block) {
        var name = "message", data = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (!data.length) return;
        try { onEvent(name, JSON.parse(data.join("\n"))); } catch (e) { /* not JSON: skip */ }
      }
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) {
            if (buf.trim()) dispatch(buf);
            return;
          }
          buf += decoder.decode(r.value, { stream: true }).replace(/\r\n/g, "\n");
          var i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            dispatch(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          return pump();
        });
      }
      return pump();
    }

    function fail(answer, problem) {
      var why = label("error");
      if (problem && problem.errors && problem.errors.length) why += " " + problem.errors[0].field + ": " + problem.errors[0].message;
      else if (problem && (problem.detail || problem.title)) why += " " + (problem.detail || problem.title);
      answer.li.classList.add("pg-failed");
      answer.body.textContent = why;
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value.trim();
      if (!text) { input.focus(); return; }
      bubble("user", text);
      input.value = "";
      send.disabled = true;
      var answer = bubble("bot", "");
      answer.li.classList.add("pg-streaming");
      var streamed = "";
      var body = { assistant_id: assistantID, message: text, stream: true };
      if (conversationID) body.conversation_id = conversationID;
      fetch("/api/v1/chat", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream", "X-CSRF-Token": window.metachat.csrfToken() },
        body: JSON.stringify(body)
      }).then(function (res) {
        if (!res.ok) return res.json().then(function (p) { throw p; }, function () { throw { title: res.status + " " + res.statusText }; });
        return readSSE(res, function (name, data) {
          if (data.conversation_id) conversationID = data.conversation_id;
          if (name === "delta") {
            streamed += data.text || "";
            answer.body.textContent = streamed;
          } else if (name === "message" && data.message) {
            answer.body.textContent = data.message.text || streamed;
            citations(answer.li, data.message.citations);
          } else if (name === "pending") {
            answer.body.textContent = (streamed ? streamed + "\n" : "") + label("pending");
          }
        });
      }).catch(function (problem) { fail(answer, problem); }).then(function () {
        answer.li.classList.remove("pg-streaming");
        send.disabled = false;
        input.focus();
      });
    });

    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else send.click();
      }
    });

    reset.addEventListener("click", function () {
      conversationID = "";
      while (log.firstChild) log.removeChild(log.firstChild);
      input.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("playground");
    if (box && window.fetch && window.TextDecoder) playground(box);
  });
})();
