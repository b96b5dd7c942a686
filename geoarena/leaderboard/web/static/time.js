// Adds the reader's local time after every <time class="when"> (the page shows UTC).
"use strict";
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  document.querySelectorAll("time.when").forEach(function (el) {
    var moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment)) { return; }
    var local = document.createElement("span");
    local.className = "local muted";
    local.textContent = " (" + moment.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
    }) + " " + zone + ")";
    el.after(local);
  });
})();
