// tenantry settings: progressive enhancements only (every page works without this file).
// Loaded as an external file so the pages' Content-Security-Policy needs no inline script.
(function () {
  "use strict";
  // A form with data-confirm asks before a destructive action.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
    }
  });
  // A button with data-copy copies the text of the element it names.
  document.addEventListener("click", function (e) {
    var id = e.target.getAttribute && e.target.getAttribute("data-copy");
    if (!id) { return; }
    var el = document.getElementById(id);
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        e.target.textContent = "Copied";
      });
    }
  });
  // On a narrow screen the settings menu starts folded so the page comes first; it is
  // always unfolded on a wide one (without this script it simply stays unfolded).
  var menu = document.querySelector("nav.side details.menu");
  if (menu && window.matchMedia) {
    var narrow = window.matchMedia("(max-width: 48rem)");
    var fit = function () { menu.open = !narrow.matches; };
    if (narrow.addEventListener) { narrow.addEventListener("change", fit); }
    fit();
  }
})();
