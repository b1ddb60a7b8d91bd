/*
 * metachat widget loader — served as GET /widget.js.
 *
 * Embed with:
 *   <script src="https://chat.example.com/widget.js" data-key="pk_…" async></script>
 * Optional attributes: data-position="right|left" (default right),
 * data-open="true" (open the chat at once).
 *
 * It adds exactly two elements to the host page — a launcher button and the
 * chat iframe (served from the widget's own origin) — and talks to the frame
 * only through postMessage, checking origin and source on every message.
 * No HTML strings, no <style> elements: everything is built with DOM calls
 * and styled through element.style.
 */
(function () {
  "use strict";

  if (window.__metachatLoaded) return;

  var script = document.currentScript;
  if (!script || !script.getAttribute("data-key")) {
    script = document.querySelector('script[data-key][src*="/widget.js"]');
  }
  if (!script) return;
  var key = script.getAttribute("data-key");
  if (!key) return;

  var widgetOrigin;
  try {
    widgetOrigin = new URL(script.src, location.href).origin;
  } catch (e) {
    return;
  }
  if (!widgetOrigin || widgetOrigin === "null") return;

  window.__metachatLoaded = true;

  var SVG_NS = "http://www.w3.org/2000/svg";
  var DEFAULT_ACCENT = "#2563eb";
  var Z = "2147483000";
  var positionAttr = script.getAttribute("data-position");
  var position = positionAttr === "left" ? "left" : "right";
  var startOpen = script.getAttribute("data-open") === "true";
  var narrowQuery = window.matchMedia ? window.matchMedia("(max-width: 479px)") : null;

  var accent = DEFAULT_ACCENT;
  var open = false;
  var frameReady = false;
  var unread = 0;
  var launcher, badge, chatIcon, closeIcon, frame;

  function css(el, props) {
    for (var k in props) {
      if (Object.prototype.hasOwnProperty.call(props, k)) el.style.setProperty(k, props[k], "important");
    }
  }

  function svgIcon(pathData) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", pathData);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    css(svg, { display: "block", margin: "auto", "pointer-events": "none" });
    return svg;
  }

  function isNarrow() {
    return narrowQuery ? narrowQuery.matches : window.innerWidth < 480;
  }

  function build() {
    launcher = document.createElement("button");
    launcher.id = "metachat-launcher";
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open chat");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "metachat-frame");
    css(launcher, {
      position: "fixed",
      bottom: "20px",
      width: "56px",
      height: "56px",
      margin: "0",
      padding: "0",
      border: "0",
      "border-radius": "50%",
      background: accent,
      color: "#fff",
      cursor: "pointer",
      "box-shadow": "0 4px 14px rgba(0,0,0,.25)",
      "box-sizing": "border-box",
      display: "block",
      "line-height": "1",
      "z-index": Z,
      transition: "transform .15s ease",
      "-webkit-tap-highlight-color": "transparent"
    });

    // Chat bubble, and an X shown while the chat is open.
    chatIcon = svgIcon("M6 4h12a3 3 0 0 1 3 3v8a3 3 0 0 1-3 3H10l-5 4v-4.2A3 3 0 0 1 3 15V7a3 3 0 0 1 3-3z");
    closeIcon = svgIcon("M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z");
    closeIcon.style.setProperty("display", "none", "important");
    launcher.appendChild(chatIcon);
    launcher.appendChild(closeIcon);

    badge = document.createElement("span");
    badge.setAttribute("aria-hidden", "true");
    css(badge, {
      position: "absolute",
      top: "-4px",
      right: "-4px",
      "min-width": "20px",
      height: "20px",
      padding: "0 5px",
      "box-sizing": "border-box",
      "border-radius": "10px",
      background: "#dc2626",
      color: "#fff",
      font: "600 12px/20px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      "text-align": "center",
      display: "none",
      "pointer-events": "none"
    });
    launcher.appendChild(badge);

    launcher.addEventListener("click", function () {
      setOpen(!open, true);
    });
    launcher.addEventListener("focus", function () {
      var visible = true;
      try {
        visible = launcher.matches(":focus-visible");
      } catch (e) {
        /* older engines: always show it */
      }
      if (!visible) return;
      launcher.style.setProperty("outline", "3px solid " + accent, "important");
      launcher.style.setProperty("outline-offset", "3px", "important");
    });
    launcher.addEventListener("blur", function () {
      launcher.style.setProperty("outline", "none", "important");
    });

    frame = document.createElement("iframe");
    frame.id = "metachat-frame";
    frame.title = "Chat";
    frame.src = widgetOrigin + "/widget/frame?key=" + encodeURIComponent(key);
    css(frame, {
      position: "fixed",
      border: "0",
      margin: "0",
      padding: "0",
      background: "transparent",
      "color-scheme": "normal",
      "z-index": Z,
      display: "none"
    });

    applyPosition();
    layout();
    if (narrowQuery) {
      if (narrowQuery.addEventListener) narrowQuery.addEventListener("change", layout);
      else if (narrowQuery.addListener) narrowQuery.addListener(layout);
    } else {
      window.addEventListener("resize", layout);
    }

    window.addEventListener("message", onMessage);

    document.body.appendChild(frame);
    document.body.appendChild(launcher);
    if (startOpen) setOpen(true);
  }

  function applyPosition() {
    var other = position === "left" ? "right" : "left";
    launcher.style.setProperty(position, "20px", "important");
    launcher.style.setProperty(other, "auto", "important");
    layout();
  }

  function layout() {
    if (!frame) return;
    if (isNarrow()) {
      css(frame, {
        top: "0",
        left: "0",
        right: "0",
        bottom: "0",
        width: "100%",
        height: "100%",
        "max-width": "none",
        "max-height": "none",
        "border-radius": "0",
        "box-shadow": "none"
      });
    } else {
      var other = position === "left" ? "right" : "left";
      css(frame, {
        top: "auto",
        bottom: "88px",
        width: "380px",
        height: "600px",
        "max-width": "calc(100vw - 40px)",
        "max-height": "calc(100vh - 108px)",
        "border-radius": "12px",
        "box-shadow": "0 8px 32px rgba(0,0,0,.25)"
      });
      frame.style.setProperty(position, "20px", "important");
      frame.style.setProperty(other, "auto", "important");
    }
    // Full screen on a narrow viewport: the frame's own close button takes
    // over, the launcher would only cover it.
    launcher.style.setProperty("display", open && isNarrow() ? "none" : "block", "important");
  }

  // post talks to the frame once it has said "ready" (before that its
  // window is still about:blank, and the frame asks for the state anyway).
  function post(data) {
    if (!frameReady) return;
    try {
      if (frame.contentWindow) frame.contentWindow.postMessage(data, widgetOrigin);
    } catch (e) {
      /* the frame is not there yet */
    }
  }

  // byUser: the visitor asked (a click), so focus may move into the chat.
  function setOpen(next, byUser) {
    open = !!next;
    frame.style.setProperty("display", open ? "block" : "none", "important");
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    chatIcon.style.setProperty("display", open ? "none" : "block", "important");
    closeIcon.style.setProperty("display", open ? "block" : "none", "important");
    if (open) unread = 0;
    renderBadge();
    layout();
    post({ metachat: open ? "open" : "closed" });
    if (open && byUser) {
      try {
        frame.focus();
      } catch (e) {
        /* ignore */
      }
    }
  }

  function renderBadge() {
    var show = !open && unread > 0;
    badge.textContent = show ? (unread > 9 ? "9+" : String(unread)) : "";
    badge.style.setProperty("display", show ? "block" : "none", "important");
    if (!open) launcher.setAttribute("aria-label", show ? "Open chat (" + unread + " unread)" : "Open chat");
  }

  function onMessage(event) {
    if (event.origin !== widgetOrigin || !frame || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.metachat !== "string") return;
    switch (data.metachat) {
      case "close":
        if (open) {
          setOpen(false);
          try {
            launcher.focus();
          } catch (e) {
            /* ignore */
          }
        }
        break;
      case "unread":
        var n = Number(data.count);
        unread = isFinite(n) && n > 0 ? Math.min(Math.floor(n), 999) : 0;
        renderBadge();
        break;
      case "ready":
        frameReady = true;
        // The frame (re)loaded: tell it whether it is shown, and take the
        // channel's look when the site did not choose one.
        if (typeof data.accent_color === "string" && /^#[0-9a-fA-F]{3,8}$/.test(data.accent_color)) {
          accent = data.accent_color;
          launcher.style.setProperty("background", accent, "important");
          if (typeof data.accent_contrast === "string" && /^#[0-9a-fA-F]{3,8}$/.test(data.accent_contrast)) {
            launcher.style.setProperty("color", data.accent_contrast, "important");
          }
        }
        if (!positionAttr && (data.position === "left" || data.position === "right") && data.position !== position) {
          position = data.position;
          applyPosition();
        }
        post({ metachat: open ? "open" : "closed" });
        break;
    }
  }

  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
