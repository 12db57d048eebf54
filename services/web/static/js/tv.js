// The big screen: now playing, the next songs and live effects; read-only, runs all day.
// Live updates come over SSE (live.js reconnects and replays); a read every few minutes also
// keeps the session from idling out and resynchronises the clock.

import { getJson } from "./api.js";
import { $, el, safeImg, shortName, showProgress } from "./dom.js";
import { anchorAt, isPositionOf, positionAt, serverNowMs } from "./clock.js";
import { connectLive } from "./live.js";

const root = $("tv");
const benderEmail = root.dataset.bender || "";
const upNext = Number.parseInt(root.dataset.upNext || "5", 10);
const KEEPALIVE_MS = 4 * 60 * 1000;
const HORN_FRESH_MS = 15000;
const EFFECT_MS = 4000;

const state = { now: null, anchor: null, jams: new Set(), queue: [] };
const nameOf = (email) => shortName(email, benderEmail);
const creditOf = (item) => (item.auto && (!item.user || item.user.toLowerCase() === benderEmail.toLowerCase()) ? "Bender" : nameOf(item.user));

// One effect at a time, each shown for a few seconds (an airhorn storm queues up, bounded).
const effects = [];
let effectTimer = null;
function effect(text, kind) {
  if (effects.length >= 5) effects.shift();
  effects.push({ text, kind });
  if (!effectTimer) nextEffect();
}
function nextEffect() {
  const node = $("tv-effect");
  const next = effects.shift();
  if (!next) {
    node.hidden = true;
    effectTimer = null;
    return;
  }
  node.textContent = next.text;
  node.dataset.kind = next.kind;
  node.hidden = false;
  // Restart the CSS animation for each effect.
  node.classList.remove("play");
  void node.offsetWidth;
  node.classList.add("play");
  effectTimer = setTimeout(nextEffect, EFFECT_MS);
}

function setNowPlaying(now) {
  const playing = now && now.id ? now : null;
  const sameSong = playing && state.now && state.now.id === playing.id;
  const jams = new Set((playing && playing.jams) || []);
  if (sameSong) {
    for (const who of jams) if (!state.jams.has(who)) effect(`♥ ${nameOf(who)} jams this!`, "jam");
  }
  state.jams = jams;
  state.now = playing;
  state.anchor = playing ? anchorAt(playing.server_time, playing.pos_ms, playing) : null;
  render();
}

function render() {
  const now = state.now;
  $("tv-now").dataset.state = now ? (now.paused ? "paused" : "playing") : "idle";
  const src = now ? safeImg(now.big_img || now.img) : "";
  if (src) $("tv-art").src = src;
  else $("tv-art").removeAttribute("src");
  $("tv-art").alt = now ? `Artwork of ${now.title}` : "";
  $("tv-label").textContent = now ? (now.paused ? "Paused" : "Now playing") : "Nothing playing";
  $("tv-title").textContent = now ? now.title : "";
  $("tv-artist").textContent = now ? now.artist : "";
  $("tv-user").textContent = now ? `queued by ${creditOf(now)}` : "";
  const jams = now ? now.jams || [] : [];
  $("tv-jams").textContent = jams.length ? `♥ ${jams.length} jamming: ${jams.map(nameOf).join(", ")}` : "";
  document.title = now ? `${now.title} · Andre` : "Andre";
  tick();
}

const PROGRESS = { bar: "tv-progress", fill: "tv-progress-fill", pos: "tv-pos", dur: "tv-dur" };

function tick() {
  const now = state.now;
  const pos = now ? positionAt(state.anchor, serverNowMs()) : 0;
  const dur = now ? now.duration_ms : 0;
  showProgress(PROGRESS, pos, dur);
}

function setQueue(view) {
  state.queue = Array.isArray(view.queue) ? view.queue : [];
  const items = state.queue.slice(0, upNext);
  $("tv-next").replaceChildren(
    ...items.map((item) =>
      el(
        "li",
        { class: "tv-next-row" },
        el("img", { class: "row-art", src: safeImg(item.img || item.big_img) || null, alt: "", width: 56, height: 56 }),
        el("div", { class: "row-main" }, el("p", { class: "row-title", text: item.title }), el("p", { class: "row-meta", text: `${item.artist} · ${creditOf(item)}` })),
      ),
    ),
  );
  $("tv-next-empty").hidden = items.length > 0;
}

function onAirhorn(data, event) {
  if (!data || typeof data.name !== "string") return;
  const sentMs = Number.parseInt(String(event?.lastEventId || "").split("-")[0], 10);
  if (Number.isFinite(sentMs) && serverNowMs() - sentMs > HORN_FRESH_MS) return;
  effect(`♫ ${nameOf(data.user)}: ${data.name.replace(/_/g, " ")}!`, "horn");
}

function onPosition(data) {
  if (!isPositionOf(data, state.now)) return;
  state.anchor = anchorAt(data.server_time, data.pos_ms, state.now);
}

let offlineTimer = null;
function setLive(up) {
  clearTimeout(offlineTimer);
  if (up) $("offline").hidden = true;
  else offlineTimer = setTimeout(() => ($("offline").hidden = false), 3000);
}

connectLive({ queue_update: setQueue, now_playing: setNowPlaying, player_position: onPosition, airhorn: onAirhorn }, { onStatus: setLive });
setInterval(tick, 500);
setInterval(() => {
  getJson("/playing").then(setNowPlaying).catch(() => {});
}, KEEPALIVE_MS);
