// metachat dashboard, knowledge pages: documents dropped on the upload
// form go to POST /api/v1/documents (several at once), and the document
// list follows the server's document events (GET /app/knowledge/events)
// without a reload. Text only through textContent; no innerHTML.
(function () {
  "use strict";

  function fmtTime(s) {
    if (!s) return "";
    var d = new Date(s);
    if (isNaN(d.getTime())) return s;
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function field(tr, name) { return tr.querySelector('[data-f="' + name + '"]'); }

  // fill writes a document (as the API shows it) into a row.
  function fill(table, tr, doc) {
    // Events and API answers may arrive out of order: never go back in time.
    var seen = Date.parse(tr.getAttribute("data-ts") || "");
    var at = Date.parse(doc.updated_at || "");
    if (!isNaN(seen) && !isNaN(at) && at < seen) return;
    if (!isNaN(at)) tr.setAttribute("data-ts", doc.updated_at);
    tr.setAttribute("data-doc", doc.id);
    var link = field(tr, "link");
    if (link && doc.title !== undefined) {
      link.textContent = doc.title;
      link.setAttribute("href", "/app/knowledge/" + doc.id);
    }
    var src = field(tr, "source");
    if (src && doc.source !== undefined) src.textContent = doc.filename || doc.source_url || "";
    var st = field(tr, "status");
    if (st) {
      st.className = "badge status-" + doc.status;
      st.textContent = table.getAttribute("data-l-" + doc.status) || doc.status;
    }
    var er = field(tr, "error");
    if (er) er.textContent = doc.status === "failed" ? (doc.error || "") : "";
    var total = doc.chunk_count || 0, done = doc.chunks_done || 0;
    var bar = field(tr, "bar");
    if (bar) {
      bar.max = total > 0 ? total : 1;
      bar.value = doc.status === "ready" ? bar.max : done;
    }
    var pr = field(tr, "progress");
    if (pr) pr.textContent = done + "/" + total;
    var tags = field(tr, "tags");
    if (tags && doc.tags) tags.textContent = doc.tags.join(", ");
    var up = field(tr, "updated");
    if (up && doc.updated_at) up.textContent = fmtTime(doc.updated_at);
    var re = field(tr, "reindex"), del = field(tr, "delete");
    if (re) re.setAttribute("action", "/app/knowledge/" + doc.id + "/reindex");
    if (del) del.setAttribute("action", "/app/knowledge/" + doc.id + "/delete");
  }

  function findRow(table, id) {
    var rows = table.querySelectorAll("tr[data-doc]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-doc") === id) return rows[i];
    }
    return null;
  }

  // upsert updates the document's row, or adds one for a new document
  // (on the unfiltered list only), or removes a deleted one.
  function upsert(doc) {
    var table = document.getElementById("docs");
    if (!table || !doc || !doc.id) return;
    var tr = findRow(table, doc.id);
    if (doc.status === "deleted") {
      if (tr && !table.hasAttribute("data-single")) tr.remove();
      return;
    }
    if (!tr) {
      var tpl = document.getElementById("kb-row-template");
      if (!tpl || table.getAttribute("data-filtered") === "true" || table.hasAttribute("data-single")) return;
      tr = tpl.content.querySelector("tr").cloneNode(true);
      var del = tr.querySelector('form[data-confirm]');
      if (del) {
        del.addEventListener("submit", function (ev) {
          if (!window.confirm(del.getAttribute("data-confirm"))) ev.preventDefault();
        });
      }
      table.querySelector("tbody").prepend(tr);
      var wrap = document.getElementById("docs-wrap");
      if (wrap) wrap.hidden = false;
      var empty = document.getElementById("docs-empty");
      if (empty) empty.hidden = true;
    }
    fill(table, tr, doc);
  }

  function live() {
    var table = document.getElementById("docs");
    if (!table || !window.EventSource) return;
    var note = document.getElementById("kb-live");
    var liveText = note ? note.textContent : "";
    var es = new EventSource("/app/knowledge/events");
    es.addEventListener("open", function () {
      if (note) { note.hidden = false; note.textContent = liveText; }
    });
    es.addEventListener("error", function () {
      if (note) { note.hidden = false; note.textContent = note.getAttribute("data-offline"); }
    });
    es.addEventListener("document", function (ev) {
      try { upsert(JSON.parse(ev.data)); } catch (e) { /* ignore a malformed event */ }
    });
    es.addEventListener("resync", function () { window.location.reload(); });
    es.addEventListener("end", function () { es.close(); });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // dropzone uploads dropped files through the API, one request each.
  function dropzone() {
    var form = document.getElementById("upload");
    if (!form || !window.fetch || !window.FormData) return;
    var status = document.getElementById("upload-status");
    var depth = 0;
    form.classList.add("droppable");
    form.addEventListener("dragenter", function (ev) { ev.preventDefault(); depth++; form.classList.add("dragging"); });
    form.addEventListener("dragover", function (ev) { ev.preventDefault(); if (ev.dataTransfer) ev.dataTransfer.dropEffect = "copy"; });
    form.addEventListener("dragleave", function () { if (--depth <= 0) { depth = 0; form.classList.remove("dragging"); } });
    form.addEventListener("drop", function (ev) {
      ev.preventDefault();
      depth = 0;
      form.classList.remove("dragging");
      var files = ev.dataTransfer ? ev.dataTransfer.files : null;
      if (!files || !files.length) return;
      var tags = form.querySelector('[name="tags"]');
      Array.prototype.forEach.call(files, function (file) { upload(file, tags ? tags.value : ""); });
    });

    function upload(file, tags) {
      var li = document.createElement("li");
      li.textContent = file.name + ": " + form.getAttribute("data-uploading");
      if (status) status.appendChild(li);
      var body = new FormData();
      body.append("file", file, file.name);
      if (tags) body.append("tags", tags);
      fetch("/api/v1/documents", {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "X-CSRF-Token": window.metachat.csrfToken() }
      }).then(function (res) {
        return res.json().then(function (data) {
          if (!res.ok) throw data;
          return data;
        });
      }).then(function (doc) {
        li.className = "ok";
        li.textContent = file.name + ": " + form.getAttribute("data-uploaded");
        upsert(doc);
      }, function (problem) {
        var why = "";
        if (problem && problem.errors && problem.errors.length) why = problem.errors[0].message;
        else if (problem && (problem.detail || problem.title)) why = problem.detail || problem.title;
        li.className = "failed";
        li.textContent = file.name + ": " + form.getAttribute("data-failed") + (why ? " — " + why : "");
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    live();
    dropzone();
  });
})();
