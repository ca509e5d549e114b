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
  // Passkeys (WebAuthn). The server's options carry binary values in base64url; the browser
  // wants ArrayBuffers, and its answer goes back as JSON in base64url again.
  // - a form with data-passkey="OPTIONS-URL" (sign-in pages): the options are fetched with
  //   the form's CSRF token, the browser asks for a passkey, the form is posted with it;
  // - a form with data-passkey-verify="OPTIONS-URL" (removing a passkey): the same with the
  //   API's fresh check, unless a code was typed into its `code` field (then it posts as is);
  // - the form #passkey-add (Personal > Security): the API registers a new passkey.
  // Without WebAuthn in the browser these forms stay hidden.
  function fromB64(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64(buf) {
    var a = new Uint8Array(buf), s = "";
    for (var i = 0; i < a.length; i++) { s += String.fromCharCode(a[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = fromB64(c.id); });
  }
  function credentialJSON(c) {
    var r = c.response;
    var out = {
      id: c.id, rawId: toB64(c.rawId), type: c.type,
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      out.response.userHandle = r.userHandle ? toB64(r.userHandle) : null;
    }
    return out;
  }
  function post(url, body, json) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": json ? "application/json" : "application/x-www-form-urlencoded" },
      body: body
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (v) {
        if (!r.ok) { throw new Error(v.detail || ("HTTP " + r.status)); }
        return v;
      });
    });
  }
  function getPasskey(started) {
    var pk = started.options.publicKey;
    pk.challenge = fromB64(pk.challenge);
    ids(pk.allowCredentials);
    return navigator.credentials.get({ publicKey: pk }).then(credentialJSON);
  }
  function showError(form, text) {
    var el = form.querySelector("[data-passkey-error]");
    if (!el) { return; }
    if (text) { el.textContent = text; }
    el.hidden = false;
  }
  var webauthn = !!(window.PublicKeyCredential && navigator.credentials);
  document.querySelectorAll("form[data-passkey], form#passkey-add").forEach(function (f) {
    f.hidden = !webauthn;
  });
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (e.defaultPrevented || !f.getAttribute || !webauthn) { return; }
    var signIn = f.getAttribute("data-passkey");
    var verify = f.getAttribute("data-passkey-verify");
    if (verify && f.elements.code && f.elements.code.value.trim()) { return; }
    if (signIn || verify) {
      e.preventDefault();
      var started = signIn
        ? post(signIn, "csrf_token=" + encodeURIComponent(f.elements.csrf_token.value), false)
        : post(verify, "{}", true);
      started.then(function (s) {
        return getPasskey(s).then(function (cred) {
          f.elements.ceremony.value = s.ceremony;
          f.elements.credential.value = JSON.stringify(cred);
          f.submit();
        });
      }).catch(function (err) { showError(f, signIn ? null : String(err.message || err)); });
    } else if (f.id === "passkey-add") {
      e.preventDefault();
      var name = f.elements.namedItem("name").value;
      post(f.getAttribute("data-options"), "{}", true).then(function (s) {
        var pk = s.options.publicKey;
        pk.challenge = fromB64(pk.challenge);
        pk.user.id = fromB64(pk.user.id);
        ids(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk }).then(function (c) {
          return post(f.getAttribute("action"), JSON.stringify({
            ceremony: s.ceremony, name: name, credential: credentialJSON(c)
          }), true);
        });
      }).then(function () {
        window.location.assign(f.getAttribute("data-done"));
      }).catch(function (err) { showError(f, String(err.message || err)); });
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
