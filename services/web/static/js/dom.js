// Tiny DOM helpers. User-provided text only ever goes through textContent (never innerHTML).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

export function fmtDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// A song's progress bar and times; ids: {bar, fill, pos, dur} of the page's elements.
export function showProgress(ids, posMs, durMs) {
  const pct = durMs > 0 ? Math.min(100, (posMs / durMs) * 100) : 0;
  $(ids.fill).style.width = `${pct.toFixed(2)}%`;
  $(ids.bar).setAttribute("aria-valuenow", String(Math.round(pct)));
  $(ids.pos).textContent = fmtDuration(posMs);
  $(ids.dur).textContent = fmtDuration(durMs);
}

export function fmtClock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// "ana@example.com" -> "ana"; the Bender user reads as "Bender".
export function shortName(email, benderEmail = "") {
  if (!email) return "someone";
  if (benderEmail && email.toLowerCase() === benderEmail.toLowerCase()) return "Bender";
  const at = email.indexOf("@");
  return at > 0 ? email.slice(0, at) : email;
}

// Artwork URLs come from Spotify (https://i.scdn.co) or the demo catalog (/art/demo/<key>.svg on
// our own origin); anything else is dropped rather than handed to <img>.
export function safeImg(url) {
  if (typeof url !== "string") return "";
  if (url.startsWith("https://") || url.startsWith("/art/demo/")) return url;
  return "";
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const node = $("toast");
  if (!node) return;
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, 5000);
}
