// metachat dashboard: small progressive enhancements. Every page works
// without this file. No inline scripts, no eval, no innerHTML: the CSP
// allows none of it.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  // Theme: the system's, unless the user chose one (kept in localStorage).
  // Applied before the body renders (this script loads in <head>).
  var THEME_KEY = "metachat-theme";
  function storedTheme() {
    try { return localStorage.getItem(THEME_KEY); } catch (e) { return null; }
  }
  function currentTheme() {
    var t = root.getAttribute("data-theme");
    if (t) return t;
    return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  var saved = storedTheme();
  if (saved === "dark" || saved === "light") root.setAttribute("data-theme", saved);

  // csrfToken is the session's CSRF token, for calls to /api/v1.
  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  // window.metachat.api(method, path, body) calls the JSON API with the
  // dashboard's session (same cookie) and CSRF header; it resolves to the
  // decoded answer or rejects with the problem+json object.
  window.metachat = {
    csrfToken: csrfToken,
    api: function (method, path, body) {
      var opts = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } };
      if (body !== undefined) {
        opts.headers["Content-Type"] = "application/json";
        opts.body = JSON.stringify(body);
      }
      return fetch(path, opts).then(function (res) {
        if (res.status === 204) return null;
        return res.json().then(function (data) {
          if (!res.ok) throw data;
          return data;
        });
      });
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    // Theme toggle.
    document.querySelectorAll("[data-theme-toggle]").forEach(function (btn) {
      function label() {
        var next = currentTheme() === "dark" ? "light" : "dark";
        btn.textContent = btn.getAttribute(next === "dark" ? "data-label-dark" : "data-label-light");
        btn.setAttribute("aria-pressed", currentTheme() === "dark" ? "true" : "false");
      }
      btn.hidden = false;
      label();
      btn.addEventListener("click", function () {
        var next = currentTheme() === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* private mode */ }
        document.querySelectorAll("[data-theme-toggle]").forEach(function (b) { b.dispatchEvent(new Event("metachat:theme")); });
        label();
      });
      btn.addEventListener("metachat:theme", label);
    });

    // Menu button (phones).
    document.querySelectorAll(".menu-toggle").forEach(function (btn) {
      var nav = document.getElementById(btn.getAttribute("aria-controls"));
      if (!nav) return;
      btn.addEventListener("click", function () {
        var open = nav.classList.toggle("open");
        btn.setAttribute("aria-expanded", open ? "true" : "false");
      });
    });

    // Selects that submit their form on change (language, tenant).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () {
        if (sel.form) sel.form.requestSubmit ? sel.form.requestSubmit() : sel.form.submit();
      });
    });

    // Forms that ask before they act (data-confirm="question").
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });

    // Copy buttons (data-copy="element id").
    document.querySelectorAll("button[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var el = document.getElementById(btn.getAttribute("data-copy"));
        if (!el || !navigator.clipboard) return;
        navigator.clipboard.writeText(el.textContent).then(function () {
          btn.textContent = btn.getAttribute("data-copied");
        }, function () { /* the user can still select the text */ });
      });
    });
  });
})();
