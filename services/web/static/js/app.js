// The app page: now playing, the queue with ETAs, the Bender preview, search, airhorns and
// listen-along, all kept current by Server-Sent Events (never a reload).

import { getJson, postJson, ApiError } from "./api.js";
import { $, el, fmtClock, fmtDuration, safeImg, shortName, showProgress, toast } from "./dom.js";
import { anchorAt, isPositionOf, positionAt, serverNowMs } from "./clock.js";
import { connectLive } from "./live.js";
import { ListenAlong } from "./listen.js";
import { playHorn, unlockAudio } from "./horns.js";
import { logoutHandler } from "./session.js";

const root = $("app");
const me = (root.dataset.user || "").toLowerCase();
const isAdmin = root.dataset.admin === "true";
const benderEmail = root.dataset.bender || "";

const state = {
  queue: [],
  preview: null,
  now: null, // NowPlaying view, or null when idle
  anchor: null, // {posMs, serverTimeMs, paused, durationMs}
  expanded: new Set(), // queue ids whose comments are open
};

// Votes are remembered per browser so the buttons stay disabled after a vote (as the original).
const VOTED_KEY = "andre-voted";
const voted = new Map(Object.entries(JSON.parse(sessionStorage.getItem(VOTED_KEY) || "{}")));
function rememberVote(id, dir) {
  voted.set(id, dir);
  sessionStorage.setItem(VOTED_KEY, JSON.stringify(Object.fromEntries(voted)));
}

const isMine = (item) => (item.user || "").toLowerCase() === me;
const nameOf = (email) => (email && email.toLowerCase() === me ? "you" : shortName(email, benderEmail));
const isBender = (email) => !email || email.toLowerCase() === benderEmail.toLowerCase();

// Who a song is credited to: a person, Bender, or (a Throwback) whoever queued it back then.
function creditOf(item) {
  if (!item.auto) return nameOf(item.user);
  return isBender(item.user) ? "Bender" : `${nameOf(item.user)} (throwback)`;
}

// "in 40 s" / "in 12 min": how long a rate limit still holds, from the Retry-After header.
function waitText(retryAfter) {
  const s = Number.parseInt(retryAfter || "", 10);
  if (!Number.isFinite(s) || s <= 0) return "in a moment";
  return s < 120 ? `in ${s} s` : `in ${Math.ceil(s / 60)} min`;
}

function reportError(err) {
  if (err instanceof ApiError && err.status === 429) {
    toast(`Slow down: that was a lot at once. Try again ${waitText(err.retryAfter)}.`, "error");
  } else {
    toast(err.message || "Something went wrong", "error");
  }
}

async function act(path, body, okMessage) {
  try {
    const result = await postJson(path, body);
    if (okMessage) toast(okMessage, "ok");
    return result;
  } catch (err) {
    reportError(err);
    return null;
  }
}

// ---- now playing ---------------------------------------------------------------------------

function currentPos() {
  return positionAt(state.anchor, serverNowMs());
}

function setNowPlaying(now) {
  const playing = now && now.id ? now : null;
  state.now = playing;
  state.anchor = playing ? anchorAt(playing.server_time, playing.pos_ms, playing) : null;
  renderNow();
  renderQueue();
  listen.follow(state.now, currentPos);
}

function onPosition(data) {
  if (!isPositionOf(data, state.now)) return;
  state.anchor = anchorAt(data.server_time, data.pos_ms, state.now);
  tick();
}

function commentItems(item) {
  return (item.comments || []).map((c) =>
    el("li", { class: "comment" }, el("span", { class: "comment-user", text: nameOf(c.user) }), " ", el("span", { class: "comment-text", text: c.text })),
  );
}

function renderNow() {
  const now = state.now;
  const card = $("now-card");
  card.dataset.state = now ? (now.paused ? "paused" : "playing") : "idle";
  const art = $("now-art");
  const src = now ? safeImg(now.big_img || now.img) : "";
  if (src) art.src = src;
  else art.removeAttribute("src");
  art.alt = now ? `Artwork of ${now.title}` : "";
  $("now-label").textContent = now ? (now.paused ? "Paused" : "Now playing") : "Nothing playing";
  $("now-title").textContent = now ? now.title : "";
  $("now-artist").textContent = now ? now.artist : "";
  $("now-user").textContent = now ? (now.auto && isBender(now.user) ? "picked by Bender" : `added by ${creditOf(now)}`) : "";
  document.title = now ? `${now.title} · ${now.artist} · Andre` : "Andre";

  const jams = now ? now.jams || [] : [];
  const jammed = jams.some((j) => j.toLowerCase() === me);
  $("jam-now").setAttribute("aria-pressed", jammed ? "true" : "false");
  $("jam-now-count").textContent = String(jams.length);
  $("jam-now").disabled = !now;
  $("now-jammers").textContent = jams.length ? `Jamming: ${jams.map(nameOf).join(", ")}` : "";
  $("skip-btn").disabled = !now;
  // Your own song (or any, for an admin) is skipped at once; anyone else's takes votes.
  $("skip-btn").textContent = now && !isMine(now) && !isAdmin ? "Vote to skip" : "Skip";
  $("pause-btn").hidden = Boolean(now && now.paused);
  $("resume-btn").hidden = !(now && now.paused);
  $("pause-btn").disabled = !now;
  $("now-comments").replaceChildren(...(now ? commentItems(now) : []));
  $("now-comments-count").textContent = String(now ? (now.comments || []).length : 0);
  $("now-comments-toggle").hidden = !now;
  $("now-comment-form").hidden = !now;
  tick();
}

const PROGRESS = { bar: "progress", fill: "progress-fill", pos: "pos-time", dur: "dur-time" };

function tick() {
  const now = state.now;
  const pos = now ? currentPos() : 0;
  const dur = now ? now.duration_ms : 0;
  showProgress(PROGRESS, pos, dur);
}

// ---- queue ---------------------------------------------------------------------------------

function etaStarts() {
  // When each queued song should start: now + what is left of the current song + the songs ahead.
  let offset = 0;
  if (state.now) offset = Math.max(0, state.now.duration_ms - currentPos());
  const starts = [];
  for (const item of state.queue) {
    starts.push(offset);
    offset += item.duration_ms;
  }
  return starts;
}

function etaText(offsetMs, paused) {
  if (paused) return "after the pause";
  const mins = Math.round(offsetMs / 60000);
  const at = fmtClock(new Date(Date.now() + offsetMs));
  return mins < 1 ? "next" : `~${at} (in ${mins} min)`;
}

function artImg(item, cls = "row-art") {
  const src = safeImg(item.img || item.big_img);
  return el("img", { class: cls, src: src || null, alt: "", width: 56, height: 56, loading: "lazy" });
}

function voteButtons(item) {
  const mine = isMine(item);
  const done = voted.get(item.id);
  // The queuer cannot upvote their own song; everyone votes once per song (own downvotes repeat).
  const upDisabled = mine || Boolean(done);
  const downDisabled = !mine && Boolean(done);
  return el(
    "div",
    { class: "votes" },
    el("button", { type: "button", class: "icon-btn", dataset: { action: "up", id: item.id }, "aria-label": `Vote up ${item.title}`, disabled: upDisabled }, "▲"),
    el("span", { class: "vote-count", "aria-label": `${item.votes} votes`, text: String(item.votes) }),
    el("button", { type: "button", class: "icon-btn", dataset: { action: "down", id: item.id }, "aria-label": `Vote down ${item.title}`, disabled: downDisabled }, "▼"),
  );
}

function commentBox(item, open) {
  const inputId = `c-${item.id}`;
  return el(
    "div",
    { class: "row-comments", hidden: !open },
    el("ul", { class: "comment-list" }, commentItems(item)),
    el(
      "form",
      { class: "comment-form", dataset: { id: item.id } },
      el("label", { for: inputId, class: "visually-hidden", text: `Comment on ${item.title}` }),
      el("input", { id: inputId, name: "text", maxlength: 280, autocomplete: "off", placeholder: "Add a comment" }),
      el("button", { type: "submit", class: "btn" }, "Comment"),
    ),
  );
}

function queueRow(item, startMs, index) {
  const jams = item.jams || [];
  const jammed = jams.some((j) => j.toLowerCase() === me);
  const open = state.expanded.has(item.id);
  const paused = Boolean(state.now && state.now.paused);
  return el(
    "li",
    { class: "row", dataset: { id: item.id } },
    el("span", { class: "row-pos", "aria-hidden": "true", text: String(index + 1) }),
    artImg(item),
    el(
      "div",
      { class: "row-main" },
      el("p", { class: "row-title", text: item.title }),
      el("p", { class: "row-meta" }, el("span", { text: item.artist }), " · ", el("span", { class: "row-user", text: creditOf(item) })),
      el("p", { class: "row-eta" }, el("span", { class: "row-at", text: etaText(startMs, paused) }), " · ", el("span", { text: fmtDuration(item.duration_ms) })),
    ),
    el(
      "div",
      { class: "row-actions" },
      voteButtons(item),
      el("button", { type: "button", class: "btn btn-small", dataset: { action: "jam", id: item.id }, "aria-pressed": jammed ? "true" : "false", "aria-label": `Jam ${item.title}` }, "Jam ", el("span", { class: "count", text: String(jams.length) })),
      el("button", { type: "button", class: "btn btn-small", dataset: { action: "comments", id: item.id }, "aria-expanded": open ? "true" : "false", "aria-label": `Comments on ${item.title}` }, "Comments ", el("span", { class: "count", text: String((item.comments || []).length) })),
      el("button", { type: "button", class: "icon-btn remove", dataset: { action: "remove", id: item.id }, "aria-label": isMine(item) || isAdmin ? `Remove ${item.title}` : `Vote to remove ${item.title}` }, "✕"),
    ),
    commentBox(item, open),
  );
}

// A long queue shows its first rows (more on request) and keeps the row of every song whose
// look did not change: a vote on a 500-song queue rebuilds two rows, not five hundred.
const QUEUE_PAGE = 50;
let queueShown = QUEUE_PAGE;
const rowCache = new Map(); // item id -> { sig, node }

function rowFor(item, startMs, index) {
  const paused = Boolean(state.now && state.now.paused);
  // Position and ETA are patched in place (a new song playing shifts every ETA, not every row).
  const sig = [state.expanded.has(item.id), voted.get(item.id) || "", JSON.stringify(item)].join("|");
  let cached = rowCache.get(item.id);
  if (!cached || cached.sig !== sig) {
    const node = queueRow(item, startMs, index);
    cached = { sig, node, pos: node.querySelector(".row-pos"), at: node.querySelector(".row-at") };
    rowCache.set(item.id, cached);
  }
  const pos = String(index + 1);
  if (cached.pos.textContent !== pos) cached.pos.textContent = pos;
  const at = etaText(startMs, paused);
  if (cached.at.textContent !== at) cached.at.textContent = at;
  return cached.node;
}

// Put `nodes` in `list` in order, moving only what is out of place.
function reconcile(list, nodes) {
  let cursor = list.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      list.insertBefore(node, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

function renderQueue() {
  const list = $("queue");
  // Rebuilding rows must not lose the keyboard user's place or a half-typed comment.
  const active = document.activeElement;
  const focusKey = active && active.dataset && active.dataset.id ? `${active.dataset.action}:${active.dataset.id}` : null;
  const typing = active && active.form && active.form.dataset.id ? { id: active.form.dataset.id, value: active.value, start: active.selectionStart } : null;

  const starts = etaStarts();
  const shown = state.queue.slice(0, queueShown);
  reconcile(list, shown.map((item, i) => rowFor(item, starts[i], i)));
  const queued = new Set(state.queue.map((item) => item.id));
  for (const id of rowCache.keys()) if (!queued.has(id)) rowCache.delete(id);
  $("queue-empty").hidden = state.queue.length > 0;
  $("queue-count").textContent = state.queue.length ? `(${state.queue.length})` : "";
  const hidden = state.queue.length - shown.length;
  $("queue-more").hidden = hidden <= 0;
  $("queue-more").textContent = `Show ${Math.min(hidden, QUEUE_PAGE)} more (${hidden} not shown)`;
  const mine = state.queue.map((item, i) => (i >= queueShown && isMine(item) ? i + 1 : 0)).filter(Boolean);
  $("queue-mine").hidden = mine.length === 0;
  $("queue-mine").textContent = `Show your songs further down (#${mine.slice(0, 5).join(", #")}${mine.length > 5 ? ", …" : ""})`;
  $("queue-mine").dataset.upTo = String(mine.length ? mine[mine.length - 1] : 0);

  if (focusKey) {
    const [action, id] = focusKey.split(":");
    const target = list.querySelector(`[data-action="${action}"][data-id="${CSS.escape(id)}"]`);
    if (target && !target.disabled && target !== document.activeElement) target.focus();
  }
  if (typing) {
    const input = list.querySelector(`form[data-id="${CSS.escape(typing.id)}"] input`);
    if (input && input !== document.activeElement) {
      input.value = typing.value;
      input.focus();
      if (typing.start !== null) input.setSelectionRange(typing.start, typing.start);
    }
  }
  renderPreview();
}

function renderPreview() {
  const item = state.preview;
  $("preview").hidden = !item;
  if (!item) return;
  $("preview-row").replaceChildren(
    artImg(item),
    el("div", { class: "row-main" }, el("p", { class: "row-title", text: item.title }), el("p", { class: "row-meta", text: isBender(item.user) ? item.artist : `${item.artist} · throwback from ${nameOf(item.user)}` })),
    el(
      "div",
      { class: "row-actions" },
      el("button", { type: "button", class: "btn btn-small btn-primary", dataset: { action: "bender-queue", uri: item.uri }, "aria-label": `Queue ${item.title}` }, "Queue"),
      el("button", { type: "button", class: "btn btn-small", dataset: { action: "bender-filter", uri: item.uri }, "aria-label": `Never suggest ${item.title}` }, "Filter"),
    ),
  );
}

// Each queue update's script time is one User Timing measure (replaced, never accumulated), so
// a profiler or the browser tests can read what a change to a long queue costs the page.
const RENDER_MEASURE = "andre:queue-render";

function setQueue(view) {
  const start = performance.now();
  state.queue = Array.isArray(view.queue) ? view.queue : [];
  state.preview = view.preview || null;
  renderQueue();
  performance.clearMeasures(RENDER_MEASURE);
  performance.measure(RENDER_MEASURE, { start });
}

function findItem(id) {
  if (state.now && state.now.id === id) return state.now;
  return state.queue.find((item) => item.id === id) || null;
}

async function onQueueClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const { action, id, uri } = button.dataset;
  const item = id ? findItem(id) : null;
  if (action === "up" || action === "down") {
    const up = action === "up";
    button.disabled = true;
    try {
      await postJson("/queue/vote", { id, up });
      if (!(item && isMine(item) && !up)) rememberVote(id, action);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) rememberVote(id, action);
      reportError(err);
    }
    renderQueue();
  } else if (action === "jam") {
    await act("/queue/jam", { id });
  } else if (action === "comments") {
    if (state.expanded.has(id)) state.expanded.delete(id);
    else state.expanded.add(id);
    renderQueue();
    if (state.expanded.has(id)) {
      const input = $("queue").querySelector(`form[data-id="${CSS.escape(id)}"] input`);
      if (input) input.focus();
    }
  } else if (action === "remove") {
    if (item && !isMine(item)) {
      const ask = isAdmin ? `Remove "${item.title}" added by ${nameOf(item.user)}?` : `Vote to remove "${item.title}" added by ${nameOf(item.user)}?`;
      if (!window.confirm(ask)) return;
    }
    const result = await act("/queue/remove", { id });
    if (result) reportModeration(result, "remove");
  } else if (action === "bender-queue") {
    await act("/bender/queue", { uri }, "Queued Bender's suggestion");
  } else if (action === "bender-filter") {
    await act("/bender/filter", { uri }, "Bender won't suggest that again");
  }
}

async function onCommentSubmit(event) {
  event.preventDefault();
  const form = event.target;
  const input = form.querySelector("input");
  const text = input.value.trim();
  const id = form.dataset.id || (state.now && state.now.id);
  if (!text || !id) return;
  const result = await act("/queue/comment", { id, text });
  if (!result) return;
  // A live update may have rebuilt the row (carrying the typed text over): clear the current one.
  const current = form.dataset.id ? $("queue").querySelector(`form[data-id="${CSS.escape(form.dataset.id)}"] input`) : input;
  for (const node of new Set([input, current])) if (node && node.value.trim() === text) node.value = "";
}

// ---- moderation: votes, announcements, admin clear -------------------------------------------

// What happened to your own skip / remove request (the announcement to everyone comes as `room`).
function reportModeration(result, verb) {
  if (result.done) toast(verb === "skip" ? "Skipped" : "Removed", "ok");
  else if (result.how === "already") toast(`You already voted to ${verb} it (${result.votes} of ${result.needed}).`, "info");
  else toast(`Your vote to ${verb} counts: ${result.votes} of ${result.needed} needed.`, "ok");
}

function byText(data) {
  if (data.how === "vote" && Array.isArray(data.voters)) return `by a vote of ${data.voters.map(nameOf).join(", ")}`;
  return `by ${nameOf(data.by)}`;
}

// Announcements to the room: every skip, removal, clear and pause says who did it.
function onRoom(data) {
  if (!data || typeof data.kind !== "string") return;
  // Your own action was already answered (reportModeration); a vote you completed is news.
  if (typeof data.by === "string" && data.by.toLowerCase() === me && data.how !== "vote") return;
  const title = data.title ? `"${data.title}"` : "A song";
  const text = {
    skip: () => `${title} was skipped ${byText(data)}.`,
    remove: () => `${title} was removed ${byText(data)}.`,
    skip_vote: () => `${nameOf(data.by)} voted to skip ${title} (${data.votes} of ${data.needed}).`,
    remove_vote: () => `${nameOf(data.by)} voted to remove ${title} (${data.votes} of ${data.needed}).`,
    clear: () => `${nameOf(data.by)} cleared the queue (${data.removed} song${data.removed === 1 ? "" : "s"}).`,
    pause: () => `Paused by ${nameOf(data.by)}.`,
    resume: () => `Resumed by ${nameOf(data.by)}.`,
  }[data.kind];
  if (text) toast(text(), "info");
}

async function onClear() {
  const n = state.queue.length;
  if (!window.confirm(`Clear the whole queue (${n} song${n === 1 ? "" : "s"}) for everyone? The playing song plays on.`)) return;
  await act("/queue/clear", {});
}

// ---- search --------------------------------------------------------------------------------

// What shared.spotify.uris.parse_collection accepts: adding one queues its tracks (each one add).
const COLLECTION_RE = /^(?:spotify:(album|playlist):[0-9A-Za-z]{22}|https:\/\/open\.spotify\.com\/(?:intl-[A-Za-z-]{2,10}\/)?(album|playlist)\/[0-9A-Za-z]{22}\/?(?:[?#]\S*)?)$/;

function collectionResult(uri, kind) {
  const text = `Add this ${kind}'s tracks`;
  return el(
    "ul",
    { class: "result-list", "aria-label": `Spotify ${kind}` },
    el(
      "li",
      { class: "row result" },
      el("div", { class: "row-main" }, el("p", { class: "row-title", text: `A Spotify ${kind}` }), el("p", { class: "row-meta", text: "Each track counts as one of your adds, one per round" })),
      el("div", { class: "row-actions" }, el("button", { type: "button", class: "btn btn-small btn-primary", id: "add-many", dataset: { uri, title: kind }, "aria-label": `Add every track of this ${kind} to the queue` }, text)),
    ),
  );
}

async function onSearch(event) {
  event.preventDefault();
  const q = $("search-q").value.trim();
  const results = $("results");
  if (!q) {
    results.replaceChildren();
    return;
  }
  const collection = COLLECTION_RE.exec(q);
  if (collection) {
    results.replaceChildren(collectionResult(q, collection[1] || collection[2]));
    return;
  }
  results.replaceChildren(el("p", { class: "hint", text: "Searching…" }));
  try {
    const body = await getJson(`/search?q=${encodeURIComponent(q)}`);
    const tracks = body.results || [];
    if (!tracks.length) {
      results.replaceChildren(el("p", { class: "hint", text: "No songs found." }));
      return;
    }
    results.replaceChildren(
      el(
        "ul",
        { class: "result-list", "aria-label": "Search results" },
        tracks.map((t) =>
          el(
            "li",
            { class: "row result" },
            artImg(t),
            el("div", { class: "row-main" }, el("p", { class: "row-title", text: t.title }), el("p", { class: "row-meta", text: `${t.artist}${t.album ? ` · ${t.album}` : ""} · ${fmtDuration(t.duration_ms)}` })),
            el("div", { class: "row-actions" }, el("button", { type: "button", class: "btn btn-small btn-primary", dataset: { uri: t.uri, title: t.title }, "aria-label": `Add ${t.title}` }, "Add")),
          ),
        ),
      ),
      el("button", { type: "button", class: "btn btn-quiet", id: "results-close" }, "Close results"),
    );
  } catch (err) {
    results.replaceChildren(el("p", { class: "hint", text: err.message }));
  }
}

async function onResultClick(event) {
  if (event.target.id === "results-close") {
    $("results").replaceChildren();
    $("search-q").focus();
    return;
  }
  const button = event.target.closest("button[data-uri]");
  if (!button) return;
  button.disabled = true;
  const result = await act("/queue/add", { uri: button.dataset.uri });
  if (!result) {
    button.disabled = false;
    return;
  }
  if (typeof result.added === "number") {
    // An album or playlist: the server says how many went in and what was skipped.
    button.textContent = `Added ${result.added} track${result.added === 1 ? "" : "s"}`;
    toast(result.message, "ok");
    return;
  }
  // A song already queued is upvoted (or jammed) instead; the server says which.
  const label = { added: "Added", upvoted: "Upvoted", jammed: "Jammed", already: "In queue" }[result.outcome] || "Added";
  button.textContent = label;
  toast(result.message || `Added "${button.dataset.title}"`, "ok");
}

// ---- airhorns and listen-along --------------------------------------------------------------

// Local mute and volume: only what this page plays (airhorns) and your own Spotify device.
const sound = {
  volume: Number.parseInt(localStorage.getItem("andre-volume") || "70", 10),
  muted: localStorage.getItem("andre-muted") === "1",
};
const effectiveVolume = () => (sound.muted ? 0 : Math.max(0, Math.min(100, sound.volume)));

let volumeTimer = null;
function applySound() {
  $("mute-btn").setAttribute("aria-pressed", sound.muted ? "true" : "false");
  $("mute-btn").textContent = sound.muted ? "Unmute" : "Mute";
  $("volume").value = String(sound.volume);
  $("volume").setAttribute("aria-valuetext", sound.muted ? "muted" : `${sound.volume}%`);
  localStorage.setItem("andre-volume", String(sound.volume));
  localStorage.setItem("andre-muted", sound.muted ? "1" : "0");
  // The slider fires many events per drag: tell Spotify once it settles.
  clearTimeout(volumeTimer);
  volumeTimer = setTimeout(() => listen.setVolume(effectiveVolume()), 400);
}

const listen = new ListenAlong($("listen-status"), (on) => {
  const btn = $("listen-btn");
  btn.setAttribute("aria-pressed", on ? "true" : "false");
  btn.textContent = on ? "Listening along" : "Listen along";
  $("listen-controls").hidden = !on;
  localStorage.setItem("andre-listen", on ? "1" : "0");
  $("horns-hint").textContent = on ? "You hear airhorns because you are listening along." : "Sounds play for everyone listening along.";
});

async function toggleListen() {
  if (listen.enabled) {
    listen.disable();
    return;
  }
  unlockAudio(); // inside the click: browsers only allow sound after a gesture
  if (await listen.enable()) listen.follow(state.now, currentPos);
}

// A reconnect replays the events it missed; an airhorn is only worth blowing when it is fresh.
// Stream ids start with the Redis clock's milliseconds, the same clock as server_time.
const HORN_FRESH_MS = 15000;

function onAirhorn(data, event) {
  if (!data || typeof data.name !== "string") return;
  const sentMs = Number.parseInt(String(event?.lastEventId || "").split("-")[0], 10);
  if (Number.isFinite(sentMs) && serverNowMs() - sentMs > HORN_FRESH_MS) return;
  const who = nameOf(data.user);
  toast(`${who} blew the ${data.name.replace(/_/g, " ")}!`, "horn");
  if (listen.enabled && effectiveVolume() > 0) playHorn(data.name, 0.6 * (effectiveVolume() / 100));
}

const freeJams = Number.parseInt(root.dataset.freeJams || "3", 10);

// The free-horn button shows the credits left and is disabled without any (its title says how
// to earn one); updated by the answer to a free horn and live by `credits` events.
function setFreeHorns(count) {
  const n = Math.max(0, Number(count) || 0);
  const button = $("horn-free");
  $("free-count").textContent = String(n);
  button.disabled = n === 0;
  button.title = n ? `${n} free airhorn${n === 1 ? "" : "s"} left` : `No free airhorns: earn one when ${freeJams} people jam a song you queued`;
}

function onCredits(data) {
  if (data && typeof data.user === "string" && data.user.toLowerCase() === me) setFreeHorns(data.free);
}

// What each refusal of an airhorn means to the person who pressed it.
function reportHornError(err, free) {
  if (!(err instanceof ApiError)) return reportError(err);
  if (err.status === 429) {
    toast(`Airhorn cooling down: you blew too many. Try again ${waitText(err.retryAfter)}.`, "error");
  } else if (err.status === 409 && !state.now) {
    toast("Airhorns need a song playing: queue something first.", "error");
  } else if (err.status === 409 && free) {
    setFreeHorns(0);
    toast(`No free airhorns left: you earn one when ${freeJams} people jam a song you queued.`, "error");
  } else {
    reportError(err);
  }
}

async function onHornClick(event) {
  const button = event.target.closest("button");
  if (!button || button.disabled) return;
  const free = button.id === "horn-free";
  if (!free && !button.dataset.horn) return;
  button.disabled = true;
  try {
    if (free) {
      const result = await postJson("/airhorn/free", {});
      setFreeHorns(result.free_left);
    } else {
      await postJson("/airhorn", { name: button.dataset.horn });
    }
  } catch (err) {
    reportHornError(err, free);
  } finally {
    if (!free) button.disabled = false;
  }
}

// ---- boot ----------------------------------------------------------------------------------

// Say so when live updates stop, but not for the blink of a routine reconnect.
let offlineTimer = null;
function setLive(up) {
  root.classList.toggle("offline", !up);
  clearTimeout(offlineTimer);
  if (up) $("offline").hidden = true;
  else offlineTimer = setTimeout(() => ($("offline").hidden = false), 3000);
}

function boot() {
  $("queue").addEventListener("click", onQueueClick);
  $("queue-more").addEventListener("click", () => {
    queueShown += QUEUE_PAGE;
    renderQueue();
  });
  $("queue-mine").addEventListener("click", () => {
    queueShown = Math.max(queueShown, Number.parseInt($("queue-mine").dataset.upTo, 10) || 0);
    renderQueue();
  });
  $("queue").addEventListener("submit", onCommentSubmit);
  $("now-comment-form").addEventListener("submit", onCommentSubmit);
  $("preview").addEventListener("click", onQueueClick);
  $("search-form").addEventListener("submit", onSearch);
  $("results").addEventListener("click", onResultClick);
  $("horn-buttons").addEventListener("click", onHornClick);
  $("jam-now").addEventListener("click", () => state.now && act("/queue/jam", { id: state.now.id }));
  $("pause-btn").addEventListener("click", () => act("/queue/pause", {}));
  $("resume-btn").addEventListener("click", () => act("/queue/resume", {}));
  $("skip-btn").addEventListener("click", async () => {
    const now = state.now;
    if (!now) return;
    const direct = isMine(now) || isAdmin;
    if (direct && !window.confirm(`Skip "${now.title}" for everyone?`)) return;
    const result = await act("/queue/skip", {});
    if (result) reportModeration(result, "skip");
  });
  if ($("clear-btn")) $("clear-btn").addEventListener("click", onClear);
  $("listen-btn").addEventListener("click", toggleListen);
  $("mute-btn").addEventListener("click", () => {
    sound.muted = !sound.muted;
    applySound();
  });
  $("volume").addEventListener("input", () => {
    sound.volume = Number.parseInt($("volume").value, 10) || 0;
    sound.muted = false;
    applySound();
  });
  $("now-comments-toggle").addEventListener("click", () => {
    const open = $("now-card").classList.toggle("show-comments");
    $("now-comments-toggle").setAttribute("aria-expanded", open ? "true" : "false");
    if (open) $("now-comment-text").focus();
  });
  $("mute-btn").setAttribute("aria-pressed", sound.muted ? "true" : "false");
  $("mute-btn").textContent = sound.muted ? "Unmute" : "Mute";
  $("volume").value = String(sound.volume);
  logoutHandler();

  connectLive(
    {
      queue_update: setQueue,
      now_playing: setNowPlaying,
      player_position: onPosition,
      airhorn: onAirhorn,
      credits: onCredits,
      room: onRoom,
    },
    {
      // A fresh stream starts with a snapshot (queue_update + now_playing), so no extra fetch.
      onStatus: setLive,
    },
  );
  setFreeHorns($("free-count").textContent);
  setInterval(tick, 250);
  // ETAs drift as the clock moves; refresh them twice a minute.
  setInterval(renderQueue, 30000);
  if (localStorage.getItem("andre-listen") === "1") {
    // Following on Spotify needs no gesture; sound does, so the first click anywhere unlocks it.
    document.addEventListener("pointerdown", unlockAudio, { once: true });
    document.addEventListener("keydown", unlockAudio, { once: true });
    listen.enable().then((on) => on && listen.follow(state.now, currentPos));
  }
}

boot();
