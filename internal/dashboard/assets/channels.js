// metachat dashboard, channel forms: the web widget's live preview. The
// preview is a static mock styled from the form's values as they change
// (no frame, no session): title, accent colour, greeting, suggestions and
// the side of the screen. Styles are set through the CSSOM, which the CSP
// allows; nothing is parsed as HTML.
(function () {
  "use strict";

  // contrast picks black or white text for a #rrggbb background, as the
  // widget does.
  function contrast(hex) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
    if (!m) return "#ffffff";
    var lin = [m[1], m[2], m[3]].map(function (h) {
      var c = parseInt(h, 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    // The widget's own rule (frame.js): white unless black reads clearly better.
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) + 2 ? "#000000" : "#ffffff";
  }

  function bind(form, preview) {
    var title = document.getElementById("wp-title");
    var greeting = document.getElementById("wp-greeting");
    var sugg = document.getElementById("wp-suggestions");
    function value(name) {
      var el = form.elements[name];
      return el ? el.value : "";
    }
    function update() {
      var accent = value("accent_color");
      if (!/^#[0-9a-f]{6}$/i.test(accent)) accent = "#2563eb";
      preview.style.setProperty("--wp-accent", accent);
      preview.style.setProperty("--wp-contrast", contrast(accent));
      preview.setAttribute("data-accent", accent);
      preview.setAttribute("data-position", value("position") === "left" ? "left" : "right");
      title.textContent = value("title").trim() || "\u00a0";
      var g = value("greeting").trim();
      greeting.textContent = g;
      greeting.hidden = g === "";
      while (sugg.firstChild) sugg.removeChild(sugg.firstChild);
      value("suggestions").split("\n").forEach(function (s) {
        s = s.trim();
        if (!s) return;
        var chip = document.createElement("span");
        chip.className = "wp-chip";
        chip.textContent = s;
        sugg.appendChild(chip);
      });
    }
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("channel-form");
    var preview = document.getElementById("wpreview");
    if (form && preview) bind(form, preview);
  });
})();
