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

async function load() {
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
