/* Show only the fields of the trigger type picked; the form works without this script (all groups shown). */
"use strict";
(function () {
  function refresh(triggerForm) {
    var select = triggerForm.querySelector("select[name$='kind']");
    if (!select) { return; }
    triggerForm.querySelectorAll(":scope > .beat-store-kind").forEach(function (group) {
      group.hidden = group.dataset.kind !== select.value;
    });
    /* A member's own bounds and zone: only for a member in use. */
    triggerForm.querySelectorAll(":scope > [data-member-options]").forEach(function (group) {
      group.hidden = select.value === "";
    });
  }
  function refreshMembers(editor) {
    var top = editor.querySelector("[data-trigger-form] select[name$='kind']");
    var members = editor.querySelector(".beat-store-members");
    if (top && members) { members.hidden = !(top.value === "or" || top.value === "and"); }
  }
  function setUp() {
    document.documentElement.classList.add("beat-store-js");
    document.querySelectorAll(".beat-store-trigger-editor").forEach(function (editor) {
      editor.querySelectorAll("[data-trigger-form]").forEach(function (triggerForm) {
        refresh(triggerForm);
        var select = triggerForm.querySelector("select[name$='kind']");
        if (select) {
          select.addEventListener("change", function () { refresh(triggerForm); refreshMembers(editor); });
        }
      });
      refreshMembers(editor);
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setUp); } else { setUp(); }
})();
