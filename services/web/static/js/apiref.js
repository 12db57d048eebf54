// The API reference: /api/openapi.json, fetched with the token the reader pastes, drawn as one
// entry per route with a form to try it. The token lives in this module's memory only.

import { $, el, toast } from "./dom.js";
import { logoutHandler } from "./session.js";

let token = "";

function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${token}`, Accept: "application/json", ...extra };
}

// An example body from the request schema: each property's example, else a placeholder.
function exampleBody(schema) {
  const body = {};
  for (const [name, prop] of Object.entries((schema && schema.properties) || {})) {
    if (prop.type === "boolean") body[name] = prop.default ?? true;
    else if (prop.type === "integer" || prop.type === "number") body[name] = prop.default ?? 1;
    else body[name] = prop.default ?? "";
  }
  return JSON.stringify(body, null, 2);
}

async function tryIt(method, path, params, bodyText, out) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of params) if (value !== "") url.searchParams.set(name, value);
  const init = { method, headers: authHeaders() };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = bodyText;
  }
  if (path === "/api/events") {
    out.textContent = "An event stream: open it with curl or an EventSource-capable client.";
    return;
  }
  try {
    const resp = await fetch(url, init);
    const text = await resp.text();
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON: shown as it came
    }
    out.textContent = `${resp.status} ${resp.statusText}\n${shown}`;
  } catch (err) {
    out.textContent = `Request failed: ${err.message}`;
  }
}

function operation(path, method, op) {
  const upper = method.toUpperCase();
  const params = (op.parameters || []).filter((p) => p.in === "query");
  const schema = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  const inputs = params.map((p) => el("input", { type: "text", name: p.name, placeholder: p.name, "aria-label": `${upper} ${path} ${p.name}` }));
  const bodyBox = schema ? el("textarea", { rows: 4, cols: 40, "aria-label": `${upper} ${path} JSON body` }) : null;
  if (bodyBox) bodyBox.value = exampleBody(schema.schema);
  const out = el("pre", { class: "ref-out", "aria-live": "polite" });
  const send = el("button", { type: "button", class: "btn btn-small", text: `Send ${upper} ${path}` });
  send.addEventListener("click", () => tryIt(upper, path, inputs.map((i) => [i.name, i.value.trim()]), bodyBox ? bodyBox.value : "", out));
  return el(
    "li",
    { class: "ref-op" },
    el("h2", {}, el("code", { text: `${upper} ${path}` })),
    el("p", { text: op.summary || "" }),
    op.description ? el("p", { class: "hint", text: op.description }) : null,
    el("p", { class: "hint", text: `Scope: ${op["x-andre-scope"] || "public"}` }),
    ...inputs,
    bodyBox,
    send,
    out,
  );
}

async function load(event) {
  event.preventDefault();
  token = $("ref-token").value.trim();
  $("ref-token").value = "";
  const list = $("ref-ops");
  list.replaceChildren();
  try {
    const resp = await fetch("/api/openapi.json", { headers: authHeaders() });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      toast(body.error || `The API answered ${resp.status}`, "error");
      return;
    }
    const schema = await resp.json();
    for (const [path, ops] of Object.entries(schema.paths || {})) {
      for (const [method, op] of Object.entries(ops)) list.append(operation(path, method, op));
    }
    toast(`${list.children.length} routes`, "ok");
  } catch (err) {
    toast(`Could not load the reference: ${err.message}`, "error");
  }
}

$("ref-form").addEventListener("submit", load);
logoutHandler();
