/* The what-if view, live: a changed value recomputes without a reload. The page works without
   this file: the form is a plain GET form that the server answers. */
(function () {
  "use strict";
  var form = document.getElementById("what-if-form");
  var result = document.getElementById("what-if-result");
  if (!form || !result || !window.fetch || !window.DOMParser) { return; }
  var timer = null;
  var asked = 0;

  function recompute() {
    var query = new URLSearchParams(new FormData(form)).toString();
    var url = form.getAttribute("action") + "?" + query;
    var mine = ++asked;
    result.setAttribute("aria-busy", "true");
    fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine !== asked) { return; }  // a newer request is on its way
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("what-if-result");
        if (fresh) { result.innerHTML = fresh.innerHTML; }
        if (window.history && window.history.replaceState) { window.history.replaceState(null, "", url); }
      })
      .catch(function () { /* the submit button still works */ })
      .then(function () { if (mine === asked) { result.removeAttribute("aria-busy"); } });
  }

  form.addEventListener("change", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(recompute, 400);
  });
}());
