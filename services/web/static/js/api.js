// JSON calls to the web service: the session cookie goes along, every POST carries the CSRF
// token from the page's <meta>, and errors come back as {error} with the HTTP status.

const csrfMeta = document.querySelector('meta[name="csrf-token"]');
export const csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

async function parse(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) {
    if (resp.status === 401) {
      // The session ended (idle timeout, sign-out elsewhere): go sign in again.
      window.location.assign("/login/");
    }
    let message = body && typeof body.error === "string" ? body.error : `Request failed (${resp.status})`;
    if (resp.status === 403 && /csrf/i.test(message)) {
      // The session was replaced (signed in again in another tab): this page's token is stale.
      message = "This page is out of date (you signed in again elsewhere?). Reload it to continue.";
    }
    throw new ApiError(resp.status, message, resp.headers.get("Retry-After"));
  }
  return body;
}

export async function getJson(path) {
  const resp = await fetch(path, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
  });
  return parse(resp);
}

export async function postJson(path, body = {}) {
  const resp = await fetch(path, {
    method: "POST",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRF-Token": csrfToken,
    },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  return parse(resp);
}
