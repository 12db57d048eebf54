// The history page: what played recently, newest first.

import { getJson } from "./api.js";
import { $, el, fmtClock, fmtDuration, safeImg, shortName, toast } from "./dom.js";
import { logoutHandler } from "./session.js";

const root = $("app");
const me = (root.dataset.user || "").toLowerCase();
const benderEmail = root.dataset.bender || "";
const nameOf = (email) => (email && email.toLowerCase() === me ? "you" : shortName(email, benderEmail));

function playRow(play) {
  const ended = new Date(play.ended_at * 1000);
  const jams = play.jams || [];
  return el(
    "li",
    { class: "row" },
    el("img", { class: "row-art", src: safeImg(play.img || play.big_img) || null, alt: "", width: 56, height: 56, loading: "lazy" }),
    el(
      "div",
      { class: "row-main" },
      el("p", { class: "row-title", text: play.title }),
      el("p", { class: "row-meta" }, el("span", { text: play.artist }), " · ", el("span", { class: "row-user", text: play.auto && (!play.user || play.user.toLowerCase() === benderEmail.toLowerCase()) ? "Bender" : nameOf(play.user) })),
      el("p", { class: "row-eta" }, el("span", { text: `ended ${ended.toLocaleDateString()} ${fmtClock(ended)}` }), " · ", el("span", { text: fmtDuration(play.duration_ms) }), jams.length ? ` · ${jams.length} jam${jams.length > 1 ? "s" : ""}` : ""),
    ),
  );
}

function when(at) {
  const date = new Date(Number(at) * 1000);
  return `${date.toLocaleDateString()} ${fmtClock(date)}`;
}

// One line per moderation record (shared/queue/moderation.py): who did what to which song.
function actionText(r) {
  const title = r.title ? `"${r.title}"` : "a song";
  const by = r.how === "vote" && Array.isArray(r.voters) ? `by a vote of ${r.voters.map(nameOf).join(", ")}` : `by ${nameOf(r.by)}`;
  const owner = r.owner ? ` (queued by ${nameOf(r.owner)})` : "";
  if (r.kind === "skip") return `${title}${owner} skipped ${by}`;
  if (r.kind === "remove") return `${title}${owner} removed ${by}`;
  if (r.kind === "clear") return `Queue cleared (${r.removed} songs) by ${nameOf(r.by)}`;
  if (r.kind === "pause") return `${title} paused by ${nameOf(r.by)}`;
  if (r.kind === "resume") return `${title} resumed by ${nameOf(r.by)}`;
  return `${r.kind} by ${nameOf(r.by)}`;
}

function activityRow(text, at) {
  return el("li", { class: "activity-row" }, el("span", { text }), " ", el("time", { class: "hint", text: when(at) }));
}

async function loadActivity() {
  const body = await getJson("/activity?limit=50");
  const actions = body.actions || [];
  const horns = body.airhorns || [];
  $("room-log").replaceChildren(...actions.map((r) => activityRow(actionText(r), r.at)));
  $("room-empty").hidden = actions.length > 0;
  $("horn-log").replaceChildren(...horns.map((h) => activityRow(`${nameOf(h.user)} blew the ${h.name}${h.free ? " (free)" : ""} at "${h.title}"`, h.at)));
  $("horn-empty").hidden = horns.length > 0;
}

async function load() {
  loadActivity().catch((err) => toast(err.message, "error"));
  try {
    const body = await getJson("/history?limit=100");
    const plays = body.plays || [];
    $("history").replaceChildren(...plays.map(playRow));
    $("history-empty").hidden = plays.length > 0;
  } catch (err) {
    toast(err.message, "error");
  }
}

logoutHandler();
load();
