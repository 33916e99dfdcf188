// Accessible names and focus for parts of Dash's own components that come without them
// (axe-core: aria-hidden-focus, aria-input-field-name, label, aria-progressbar-name).
// Our own controls get their labels in the Python layouts; this only patches Dash internals.
(function () {
  "use strict";

  function labelText(element) {
    // The text of a <label for=...> pointing at the element or its container, else its aria-label.
    var ids = [element.id];
    var container = element.closest("[id]");
    if (container) ids.push(container.id);
    for (var i = 0; i < ids.length; i++) {
      if (!ids[i]) continue;
      var label = document.querySelector('label[for="' + CSS.escape(ids[i]) + '"]');
      if (label && label.textContent.trim()) return label.textContent.trim();
    }
    return container && container.getAttribute("aria-label");
  }

  function name(element, fallback) {
    if (element.getAttribute("aria-label") || element.getAttribute("aria-labelledby")) return;
    element.setAttribute("aria-label", labelText(element) || fallback);
  }

  function fix(root) {
    // Dash 4 dropdowns focus a hidden, read-only input; let the visible button take focus instead.
    root.querySelectorAll(".dash-dropdown-focus-target").forEach(function (input) {
      input.setAttribute("tabindex", "-1");
      var button = input.parentElement && input.parentElement.querySelector("button.dash-dropdown");
      if (button && button.getAttribute("tabindex") === "-1") button.setAttribute("tabindex", "0");
    });
    root.querySelectorAll('[role="slider"]').forEach(function (thumb) { name(thumb, "slider"); });
    root.querySelectorAll(".dash-range-slider-input, .dash-slider-container input").forEach(
      function (input) { name(input, "slider value"); });
    root.querySelectorAll('input[type="file"]').forEach(function (input) {
      name(input, "choose an image file");
    });
    root.querySelectorAll('[role="progressbar"]').forEach(function (bar) {
      var box = bar.closest("[id]");
      name(bar, (box && box.getAttribute("aria-label")) || "progress");
    });
  }

  function start() {
    fix(document);
    new MutationObserver(function (mutations) {
      for (var i = 0; i < mutations.length; i++) {
        if (mutations[i].addedNodes.length) { fix(document); return; }
      }
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
