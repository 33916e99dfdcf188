/* The layer pickers (app/components/layer_picker.py): typing while the open list has the focus
 * searches it. Dash's dropdown opens with the focus on the chosen option and its search box
 * above, so a letter typed then went nowhere and a keyboard user had to Shift+Tab back into the
 * box; here the first printable key moves the focus into the box, where it lands. */
(function () {
  "use strict";

  document.addEventListener(
    "keydown",
    function (event) {
      var target = event.target instanceof Element ? event.target : null;
      if (!target || event.key.length !== 1 || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      if (target.matches("input.dash-dropdown-search")) {
        return;
      }
      var box = null;
      for (var node = target; node && !box; node = node.parentElement) {
        box = node.querySelector ? node.querySelector("input.dash-dropdown-search") : null;
      }
      if (box && box.offsetParent !== null && target.closest("[role=listbox], [role=option]")) {
        box.focus(); // the key's character is typed into the box, which now has the focus
      }
    },
    true
  );
})();
