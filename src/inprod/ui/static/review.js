/* inprod review queue: one key a decision.
 *
 * Keys 1..9 press the class button with that data-key, Enter the "accept the model's answer"
 * button, s the skip button, all inside #review-task. Keys typed into a field, or with a
 * modifier, are left alone. A key pressed while a decision is on its way does nothing: the
 * buttons are disabled until the next task arrives (and the server acts once per form anyway).
 */
(function () {
  "use strict";

  var FIELDS = /^(INPUT|TEXTAREA|SELECT)$/;

  function keyOf(ev) {
    if (ev.key === "Enter") return "Enter";
    return ev.key && ev.key.length === 1 ? ev.key.toLowerCase() : null;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var area = document.getElementById("review-task");
    var target = ev.target;
    if (!area || (target && (FIELDS.test(target.tagName) || target.isContentEditable))) return;
    /* Enter on a link or a button elsewhere on the page keeps its own meaning */
    if (ev.key === "Enter" && target && target.closest && target.closest("a, button") &&
        !area.contains(target)) return;
    var key = keyOf(ev);
    if (!key) return;
    var button = area.querySelector('button[data-key="' + key + '"]');
    if (!button) return;
    ev.preventDefault();
    if (!button.disabled && !area.querySelector(".htmx-request")) button.click();
  });
})();
