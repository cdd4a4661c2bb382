/* Overview enhancements: sort by a column and filter while typing, without a reload.
   The page works without this file: the column headers and the search form are plain links
   and a GET form that the server answers. */
(function () {
  "use strict";
  var table = document.getElementById("ratings");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var input = document.getElementById("q");
  var count = document.getElementById("ratings-count");
  var collator = new Intl.Collator(document.documentElement.lang || "da", { sensitivity: "base", numeric: true });
  var total = tbody.querySelectorAll("tr[data-code]").length;
  var countText = count ? count.textContent : "";

  function value(row, key) {
    var v = row.getAttribute("data-" + key);
    if (key === "name" || key === "code") { return v; }
    return v === "" ? null : parseFloat(v);
  }

  function sortBy(key, dir) {
    var rows = Array.prototype.slice.call(tbody.querySelectorAll("tr[data-code]"));
    rows.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      if (x === null && y === null) { return collator.compare(a.dataset.name, b.dataset.name); }
      if (x === null) { return 1; }   // missing values last, whichever the direction
      if (y === null) { return -1; }
      var c = typeof x === "string" ? collator.compare(x, y) : x - y;
      if (c === 0) { c = collator.compare(a.dataset.name, b.dataset.name); return c; }
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort]"), function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-sort") === key ? (dir === "asc" ? "ascending" : "descending") : "none");
    });
    var form = input && input.form;
    if (form) { form.elements.sort.value = key; form.elements.dir.value = dir; }
    var url = new URL(window.location.href);
    url.searchParams.set("sort", key);
    url.searchParams.set("dir", dir);
    window.history.replaceState(null, "", url);
  }

  table.tHead.addEventListener("click", function (event) {
    var link = event.target.closest("th[data-sort] a");
    if (!link) { return; }
    event.preventDefault();
    var th = link.parentElement;
    var key = th.getAttribute("data-sort");
    var current = th.getAttribute("aria-sort");
    var dir = current === "descending" ? "asc" : current === "ascending" ? "desc" : (key === "name" || key === "code" ? "asc" : "desc");
    sortBy(key, dir);
  });

  function filter() {
    var q = input.value.trim().toLowerCase();
    var code = /^\d+$/.test(q) ? q.replace(/^0+/, "") : null;
    var shown = 0;
    Array.prototype.forEach.call(tbody.querySelectorAll("tr[data-code]"), function (row) {
      var hit = !q || row.dataset.name.toLowerCase().indexOf(q) >= 0 || (code !== null && row.dataset.code.indexOf(code) >= 0);
      row.hidden = !hit;
      if (hit) { shown += 1; }
    });
    if (count) {
      count.textContent = q ? countText.replace(/\d+(?=\D+\d+\D*$)/, String(shown)) : countText.replace(/\d+(?=\D+\d+\D*$)/, String(total));
    }
  }

  if (input) {
    input.addEventListener("input", filter);
  }
})();
