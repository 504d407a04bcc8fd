/* Live preview of a schedule's next fire times, next to its trigger fields, as the user types.
   It posts the form to the admin's small JSON endpoint (ScheduleForm.live_preview); without this script the
   "Preview fire times" button reloads the page with the same preview. */
"use strict";
(function () {
  var DELAY_MS = 300;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function render(box, data) {
    box.querySelector(".beat-store-preview-zone").textContent = data.zone ? " (" + data.zone + ")" : "";
    var body = box.querySelector(".beat-store-preview-body");
    body.replaceChildren(element("p", "beat-store-description", data.description));
    if (data.errors.length) {
      var errors = element("ul", "errorlist");
      data.errors.forEach(function (text) { errors.appendChild(element("li", "", text)); });
      body.appendChild(errors);
    }
    data.warnings.forEach(function (text) { body.appendChild(element("p", "beat-store-warning", "⚠ " + text)); });
    if (data.fire_times.length) {
      var list = element("ol", "beat-store-fire-times");
      data.fire_times.forEach(function (text) { list.appendChild(element("li", "", text)); });
      body.appendChild(list);
    } else if (!data.errors.length) {
      body.appendChild(element("p", "", "No more fire times: the trigger has run out (or the end bound is past)."));
    }
    box.dataset.state = "ready";
  }

  function setUp() {
    var box = document.getElementById("beat-store-preview");
    var editor = document.getElementById("beat-store-trigger-editor");
    if (!box || !editor || !box.dataset.previewUrl) { return; }
    var form = box.closest("form");
    var triggerFieldset = editor.closest("fieldset");
    if (!form || !triggerFieldset) { return; }
    // Next to the trigger fields, not at the bottom of a long form.
    triggerFieldset.after(box);
    box.classList.add("beat-store-preview-live");

    var timer = null;
    var latest = 0;
    function refresh() {
      var asked = ++latest;
      box.dataset.state = "loading";
      var data = new FormData(form);
      data.delete("_preview");
      fetch(box.dataset.previewUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-Requested-With": "XMLHttpRequest" }
      })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (result) { if (asked === latest) { render(box, result); } })
        .catch(function () { if (asked === latest) { box.dataset.state = "failed"; } });
    }
    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, DELAY_MS);
    }
    // The trigger, its zone and bounds live in this fieldset; Django's calendar and clock shortcuts set values
    // without an input event, hence the click.
    ["input", "change", "click"].forEach(function (type) { triggerFieldset.addEventListener(type, later); });
    // A page sent back with errors has no preview of what was typed: show it (with the trigger's errors) at once.
    if (document.querySelector(".errornote")) { refresh(); }
    var button = box.querySelector("input[name=_preview]");
    if (button) {
      button.addEventListener("click", function (event) { event.preventDefault(); refresh(); });
    }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setUp); } else { setUp(); }
})();
