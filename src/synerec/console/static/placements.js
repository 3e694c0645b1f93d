/* synerec console, placements page: save a placement's rules (PUT /v1/placements/{name}) or
   go back to the settings' rules (DELETE), with the key the console keeps in sessionStorage. */
(function () {
  "use strict";
  var STORE = "synerec-api-key";

  function key() { try { return sessionStorage.getItem(STORE) || ""; } catch (e) { return ""; } }

  function say(form, text) {
    var el = form.querySelector("[data-role=rules-message]");
    el.textContent = text;
    el.classList.add("error");
    el.hidden = false;
  }

  function send(form, method, body) {
    var name = form.getAttribute("data-name");
    var headers = { "Accept": "application/json" };
    if (key()) { headers["X-API-Key"] = key(); }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    var opts = { method: method, headers: headers };
    if (body !== undefined) { opts.body = JSON.stringify(body); }
    fetch("/v1/placements/" + encodeURIComponent(name), opts).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (r.ok) { location.reload(); return; }
        var msg = (data && data.message) ? data.message : "status " + r.status;
        if (r.status === 401) {
          say(form, "This needs the write key: type it into the key box at the top first (" + msg + ").");
        } else {
          say(form, "Not saved: " + msg);
        }
      });
    }, function () { say(form, "The server could not be reached."); });
  }

  function init() {
    var form = document.querySelector("form[data-role=rules-form]");
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = form.querySelector("[data-role=rules-text]").value.trim();
      var body = text;
      if (text.charAt(0) === "{") {
        try { body = JSON.parse(text); } catch (e) { say(form, "Not saved: the rules are not valid JSON (" + e.message + ")."); return; }
      }
      send(form, "PUT", body);
    });
    var reset = form.querySelector("[data-action=reset-rules]");
    if (reset) { reset.addEventListener("click", function () { send(form, "DELETE"); }); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
