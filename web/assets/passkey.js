// Passkeys, as an enhancement: without this script (or without WebAuthn in
// the browser) the passkey forms stay hidden and a one-time code signs in.
// A form marked data-passkey asks the server to begin a ceremony
// (data-begin), asks the authenticator (navigator.credentials), puts the
// answer in its hidden fields and is submitted as an ordinary form: the
// server answers with a page, as for every other form.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function bytes(s) { // base64url -> ArrayBuffer
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function b64url(buf) { // ArrayBuffer -> base64url
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: bytes(c.id) }); });
  }
  function answer(cred) {
    var r = cred.response, out = { id: cred.id, rawId: b64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: b64url(r.clientDataJSON) } };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = b64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = b64url(r.authenticatorData);
      out.response.signature = b64url(r.signature);
      if (r.userHandle) out.response.userHandle = b64url(r.userHandle);
    }
    return JSON.stringify(out);
  }

  document.querySelectorAll("[data-passkey-section], form[data-passkey]").forEach(function (el) { el.hidden = false; });
  document.querySelectorAll("[data-passkey-missing]").forEach(function (el) { el.hidden = true; });

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var error = form.querySelector("[data-passkey-error]");
    var busy = false;
    form.addEventListener("submit", function (ev) {
      if (form.elements.credential.value) return; // the answer is in: let it go
      ev.preventDefault();
      if (busy) return;
      busy = true;
      error.textContent = "";
      fetch(form.dataset.begin, { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (resp) {
          if (!resp.ok) throw new Error("begin: " + resp.status);
          return resp.json();
        })
        .then(function (c) {
          var pk = c.options.publicKey;
          pk.challenge = bytes(pk.challenge);
          if (form.dataset.passkey === "register") {
            pk.user.id = bytes(pk.user.id);
            pk.excludeCredentials = ids(pk.excludeCredentials);
            return navigator.credentials.create({ publicKey: pk }).then(function (cred) { return [c, cred]; });
          }
          pk.allowCredentials = ids(pk.allowCredentials);
          return navigator.credentials.get({ publicKey: pk }).then(function (cred) { return [c, cred]; });
        })
        .then(function (pair) {
          form.elements.ceremony.value = pair[0].ceremony;
          form.elements.credential.value = answer(pair[1]);
          form.submit();
        })
        .catch(function () {
          busy = false;
          error.textContent = form.dataset.failed;
        });
    });
  });
})();
