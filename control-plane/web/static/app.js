// Sitewarden web UI: the little script the pages need (no inline scripts;
// the Content-Security-Policy allows only files from this origin).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The setup link carries its one-time value in the fragment, which the
  // browser never sends to the server: copy it into the form.
  var setup = document.getElementById("setup-value");
  if (setup && location.hash.length > 1 && !setup.value) {
    setup.value = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
  }
  // Buttons that ask before they act: data-confirm="question".
  document.body.addEventListener("submit", function (ev) {
    var q = ev.submitter && ev.submitter.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { ev.preventDefault(); }
  });
  // Print buttons (client report).
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
});
