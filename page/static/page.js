// Reloads the live part of the files page (the top and the list) once a second; the server answers 304 while nothing
// changed. Open confirmations stay open across a reload.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var etag = null;
  function refresh() {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(live.dataset.live + window.location.search, { headers: headers, credentials: "same-origin" })
      .then(function (response) {
        if (response.status !== 200) return null;
        etag = response.headers.get("ETag");
        return response.text();
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        var open = Array.prototype.map.call(live.querySelectorAll("details[open]"), function (d) { return d.id; });
        live.innerHTML = html;
        open.forEach(function (id) {
          var again = document.getElementById(id);
          if (again) again.open = true;
        });
      })
      .catch(function () {})
      .then(function () { window.setTimeout(refresh, 1000); });
  }
  window.setTimeout(refresh, 1000);
})();
