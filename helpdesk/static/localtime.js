// Show <time data-local> instants in the reader's own timezone (the server wrote them in the
// customer's or the support calendar's timezone, which stays as the fallback).
document.querySelectorAll("time[data-local]").forEach(function (element) {
  var instant = new Date(element.getAttribute("datetime"));
  if (isNaN(instant)) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  element.textContent = instant.toLocaleString(undefined, {
    dateStyle: "medium", timeStyle: "short", timeZone: zone
  }) + " (" + zone + ")";
});
