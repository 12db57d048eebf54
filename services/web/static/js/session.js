// Sign-out: POST /logout/ with the CSRF header (the form also carries the token as a field, so
// it works without JavaScript too).

import { csrfToken } from "./api.js";

export function logoutHandler() {
  const form = document.getElementById("logout-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken },
        body: new FormData(form),
        redirect: "manual",
      });
    } finally {
      // Not straight to /login/: in prod that bounces through the provider and signs back in.
      window.location.assign("/login/?signed_out=1");
    }
  });
}
