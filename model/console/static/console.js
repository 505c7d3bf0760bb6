// Lakestream console: the little the pages do in the browser. Times are
// rendered relative to now ("3 hours ago") by the server; this keeps them
// current while the page stays open and shows the exact local time on hover.
(function () {
  "use strict";
  function ago(t) {
    var s = (Date.now() - t.getTime()) / 1000;
    if (s < 60) return "just now";
    var units = [[86400 * 2, 86400, "day"], [3600, 3600, "hour"], [60, 60, "minute"]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][0]) {
        var n = Math.floor(s / units[i][1]);
        return n + " " + units[i][2] + (n === 1 ? "" : "s") + " ago";
      }
    }
    return "just now";
  }
  function refresh() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t)) return;
      el.title = t.toLocaleString();
      if (!/\d{4}-\d\d-\d\d/.test(el.textContent)) el.textContent = ago(t);
    });
  }
  // Forms that change the registry ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", refresh);
  setInterval(refresh, 30000);
})();
