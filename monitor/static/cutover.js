/* /skift enhancements: find a municipality among the folded ones while typing, and open the
   folded section a link points into. The page works without this file: the search is a GET
   form that the server answers, and every folded section opens with a click. */
(function () {
  "use strict";
  var input = document.getElementById("skift-q");
  var count = document.getElementById("skift-count");
  var folds = Array.prototype.slice.call(document.querySelectorAll("details.fold[data-status]"));
  var initiallyOpen = folds.map(function (d) { return d.open; });
  var template = count ? count.getAttribute("data-template") : null;

  function matches(row, q) {
    if (!q) { return true; }
    var name = (row.getAttribute("data-name") || "").toLowerCase();
    var code = row.getAttribute("data-code") || "";
    var digits = /^\d+$/.test(q) ? q.replace(/^0+/, "") : null;
    return name.indexOf(q) !== -1 || (digits !== null && digits !== "" && code.indexOf(digits) !== -1);
  }

  function filter() {
    var q = input.value.trim().toLowerCase();
    var total = 0;
    folds.forEach(function (details, i) {
      var shown = 0;
      Array.prototype.forEach.call(details.querySelectorAll("tbody tr[data-code]"), function (row) {
        var ok = matches(row, q);
        row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      total += shown;
      details.hidden = q !== "" && shown === 0;
      details.open = q !== "" ? shown > 0 : initiallyOpen[i];
    });
    if (count && template) {
      count.textContent = q === "" ? "" : template.replace("{num}", String(total));
    }
  }

  if (input) {
    input.addEventListener("input", filter);
  }

  function openTarget() {
    if (!window.location.hash) { return; }
    var target = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") { el.open = true; }
    }
    if (target) { target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
}());
