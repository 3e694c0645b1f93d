/* synerec console: the API key, the write actions and, for services with read keys, page loads
   that carry the key. Vanilla JavaScript, no library, nothing from elsewhere.

   The key is typed once and kept in this tab's sessionStorage; it is sent only as the
   X-API-Key header of requests to this server and never written into the page. */
(function () {
  "use strict";
  var STORE = "synerec-api-key";
  var FLASH = "synerec-flash";

  function getKey() { try { return sessionStorage.getItem(STORE) || ""; } catch (e) { return ""; } }
  function setKey(k) { try { sessionStorage.setItem(STORE, k); } catch (e) { /* private mode */ } }
  function dropKey() { try { sessionStorage.removeItem(STORE); } catch (e) { /* ignore */ } }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function locked() { return document.body.getAttribute("data-read-locked") === "1"; }

  function headers(extra) {
    var h = { "Accept": "application/json" };
    var k = getKey();
    if (k) { h["X-API-Key"] = k; }
    for (var name in (extra || {})) { h[name] = extra[name]; }
    return h;
  }

  function showMessage(el, text, isError) {
    if (!el) { return; }
    el.textContent = text;
    el.classList.toggle("error", !!isError);
    el.hidden = false;
  }

  function toast(text, isError) {
    var t = $("[data-role=toast]");
    if (!t) { return; }
    t.textContent = text;
    t.classList.toggle("error", !!isError);
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 6000);
  }

  /* One clear sentence for a failed API call. */
  function explain(status, body) {
    var msg = (body && body.message) ? body.message : "";
    if (status === 401) {
      if (!getKey()) { return "This needs the API key: type it into the key box at the top first."; }
      return "The server refused the API key (" + (msg || "unauthorized") +
        "). Check the key and type it again in the key box at the top.";
    }
    if (status === 409) { return "Not now: " + (msg || "a job is already running") + "."; }
    if (status === 422) { return "The server did not accept the values: " + msg; }
    if (status === 413) { return "The request is too large."; }
    if (status === 503) { return "The server is busy; try again in a moment."; }
    return "The request failed (" + status + (msg ? ": " + msg : "") + ").";
  }

  function api(method, url, body) {
    var opts = { method: method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
    if (body) { opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { message: "the server could not be reached" } };
    });
  }

  /* -- pages loaded with the key (services with read keys) ------------------------------- */
  function loadPage(url, push) {
    return fetch(url, { headers: headers({ "Accept": "text/html" }) }).then(function (r) {
      return r.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.title = doc.title;
        document.body.replaceWith(doc.body);
        if (push) { history.pushState({ console: true }, "", r.url || url); }
        init();
      });
    }, function () { toast("The server could not be reached.", true); });
  }

  function sameOrigin(url) {
    try { return new URL(url, location.href).origin === location.origin; } catch (e) { return false; }
  }

  function boostNavigation() {
    document.addEventListener("click", function (ev) {
      if (!locked() || !getKey() || ev.defaultPrevented || ev.button !== 0 ||
          ev.metaKey || ev.ctrlKey || ev.shiftKey) { return; }
      var a = ev.target.closest ? ev.target.closest("a[href]") : null;
      if (!a || !sameOrigin(a.href) || a.getAttribute("href").indexOf("/docs") === 0) { return; }
      ev.preventDefault();
      loadPage(a.href, true);
    });
    document.addEventListener("submit", function (ev) {
      var form = ev.target;
      if (!locked() || !getKey() || (form.method || "get").toLowerCase() !== "get" ||
          form.hasAttribute("data-action")) { return; }
      ev.preventDefault();
      var url = new URL(form.action || location.href, location.href);
      var data = new FormData(form);
      if (ev.submitter && ev.submitter.name) { data.append(ev.submitter.name, ev.submitter.value); }
      url.search = new URLSearchParams(data).toString();
      loadPage(url.toString(), true);
    });
    window.addEventListener("popstate", function () { if (locked() && getKey()) { loadPage(location.href, false); } });
  }

  function reloadPage() {
    if (locked()) { return loadPage(location.href, false); }
    location.reload();
  }

  /* -- the key box ----------------------------------------------------------------------- */
  function initKey() {
    var form = $("[data-role=key-form]");
    var state = $("[data-role=key-state]");
    function paint() {
      var has = !!getKey();
      if (form) { form.hidden = has; }
      if (state) { state.hidden = !has; }
    }
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var input = $("[data-role=key-input]", form);
        var k = (input.value || "").trim();
        input.value = "";
        if (!k) { return; }
        setKey(k);
        paint();
        toast("Key in use for this tab.");
        if (locked() && $("[data-role=locked]")) { loadPage(location.href, false); }
      });
    }
    var forget = $("[data-action=forget-key]");
    if (forget) {
      forget.addEventListener("click", function () { dropKey(); paint(); toast("Key forgotten."); });
    }
    paint();
  }

  /* -- record an interaction ------------------------------------------------------------- */
  function initRecord() {
    var form = $("form[data-action=record]");
    if (!form) { return; }
    var msg = $("[data-role=message]", form.parentNode);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var ev1 = { user_id: form.getAttribute("data-user"), item_id: form.elements.item_id.value.trim(),
                  event: form.elements.event.value };
      var r = form.elements.rating ? form.elements.rating.value : "";
      if (r !== "") { ev1.rating = Number(r); }
      var button = $("button", form);
      button.disabled = true;
      api("POST", "/v1/events", { events: [ev1] }).then(function (res) {
        button.disabled = false;
        if (!res.ok) { showMessage(msg, explain(res.status, res.data), true); return; }
        showMessage(msg, "Recorded event #" + res.data.last_event_id + ". Updating the lists…", false);
        flash("Recorded event #" + res.data.last_event_id + " for customer " + ev1.user_id + ".");
        setTimeout(reloadPage, 400);
      });
    });
  }

  /* -- retrain --------------------------------------------------------------------------- */
  function initRetrain() {
    var button = $("[data-action=retrain]");
    if (!button) { return; }
    var box = $("[data-role=progress]");
    var bar = $("[data-role=bar]");
    var text = $("[data-role=progress-text]");
    var msg = $("[data-role=message]", button.parentNode);
    button.addEventListener("click", function () {
      msg.hidden = true;
      button.disabled = true;
      api("POST", "/v1/models/retrain").then(function (res) {
        if (!res.ok) {
          button.disabled = false;
          showMessage(msg, explain(res.status, res.data), true);
          return;
        }
        box.hidden = false;
        bar.parentNode.className = "bar";
        poll(res.data.job_id, Date.now());
      });
    });
    function poll(id, started) {
      api("GET", "/v1/models/retrain/" + id).then(function (res) {
        if (!res.ok) {
          button.disabled = false;
          showMessage(msg, explain(res.status, res.data), true);
          return;
        }
        var job = res.data;
        var secs = ((Date.now() - started) / 1000).toFixed(1);
        if (job.status === "succeeded") {
          bar.parentNode.className = "bar done";
          text.textContent = "Job " + id.slice(0, 8) + " succeeded in " + secs + " s: version " +
            job.model_version + " is now served (" + job.n_interactions + " interactions).";
          flash("Retrained: version " + job.model_version + " is now served.");
          setTimeout(reloadPage, 1200);
          return;
        }
        if (job.status === "failed") {
          bar.parentNode.className = "bar failed";
          button.disabled = false;
          text.textContent = "Job " + id.slice(0, 8) + " failed after " + secs + " s; the old model keeps serving.";
          showMessage(msg, job.error || "the retrain failed", true);
          return;
        }
        text.textContent = "Job " + id.slice(0, 8) + " " + job.status + " for " + secs +
          " s: fitting on the base data and " + job.events_upto + " stored events…";
        setTimeout(function () { poll(id, started); }, 400);
      });
    }
  }

  /* -- the model switch submits on change ------------------------------------------------ */
  function initSwitch() {
    var form = $("form[data-role=model-switch]");
    if (!form) { return; }
    $all("input[type=checkbox]", form).forEach(function (box) {
      box.addEventListener("change", function () {
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      });
    });
  }

  function flash(text) { try { sessionStorage.setItem(FLASH, text); } catch (e) { /* ignore */ } }
  function showFlash() {
    var text = null;
    try { text = sessionStorage.getItem(FLASH); sessionStorage.removeItem(FLASH); } catch (e) { text = null; }
    if (text) { toast(text, false); }
  }

  function init() {
    initKey();
    initRecord();
    initRetrain();
    initSwitch();
    showFlash();
  }

  document.addEventListener("DOMContentLoaded", function () {
    boostNavigation();
    init();
    if (locked() && getKey() && $("[data-role=locked]")) { loadPage(location.href, false); }
  });
})();
