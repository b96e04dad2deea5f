// Staff sign-in with a passkey: fetch request options for the e-mail typed, ask the browser for an
// assertion, and submit it with the password in the form's hidden fields. Served from 'self' (the
// admin's CSP allows no inline script).
(function () {
  "use strict";

  function fromBase64Url(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  }

  function toBase64Url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function requestOptions(options) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(options);
    }
    return Object.assign({}, options, {
      challenge: fromBase64Url(options.challenge),
      allowCredentials: (options.allowCredentials || []).map((c) => Object.assign({}, c, { id: fromBase64Url(c.id) })),
    });
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      return credential.toJSON();
    }
    const response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64Url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toBase64Url(response.clientDataJSON),
        authenticatorData: toBase64Url(response.authenticatorData),
        signature: toBase64Url(response.signature),
        userHandle: response.userHandle ? toBase64Url(response.userHandle) : null,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("login-form");
    const button = document.getElementById("passkey-sign-in");
    if (!form || !button) {
      return;
    }
    if (!window.PublicKeyCredential) {
      button.disabled = true;
      return;
    }
    button.addEventListener("click", async function () {
      const email = form.querySelector("[name=username]").value.trim();
      if (!email || !form.querySelector("[name=password]").value) {
        form.reportValidity();
        return;
      }
      button.disabled = true;
      try {
        const begin = await fetch(button.dataset.beginUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ email: email }),
          credentials: "omit",
        });
        if (!begin.ok) {
          throw new Error("begin failed");
        }
        const body = await begin.json();
        const assertion = await navigator.credentials.get({ publicKey: requestOptions(body.options) });
        form.querySelector("[name=passkey_challenge]").value = body.challenge_id;
        form.querySelector("[name=passkey_credential]").value = JSON.stringify(credentialJSON(assertion));
        form.submit();
      } catch (error) {
        button.disabled = false;
      }
    });
  });
})();
