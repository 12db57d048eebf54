// Listen along: the user's own Spotify device follows what Andre plays. The page asks the web
// service for the user's own short-lived token (/spotify/token) and talks to the Spotify Web API
// directly (CSP connect-src allows https://api.spotify.com). Nothing here is broadcast.

import { getJson, ApiError } from "./api.js";
import { el } from "./dom.js";

const SPOTIFY = "https://api.spotify.com/v1/me/player";
const RETRIES = 4;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class ListenAlong {
  constructor(statusNode, onChange = () => {}) {
    this.statusNode = statusNode;
    this.onChange = onChange;
    this.enabled = false;
    this.token = null;
    this.tokenExpiresAt = 0;
    this.playingId = null; // queue id we last told Spotify to play
    this.sentPaused = false;
    this.soundsOnly = false; // no Spotify playback here (demo catalog): airhorns only
    this.busy = Promise.resolve();
  }

  status(message, { kind = "info", link = null } = {}) {
    const node = this.statusNode;
    if (!node) return;
    node.replaceChildren();
    if (!message) {
      node.hidden = true;
      return;
    }
    node.dataset.kind = kind;
    node.append(message);
    if (link) node.append(" ", el("a", { href: link.href, text: link.text }));
    node.hidden = false;
  }

  // "ok", "sounds" (no Spotify here, e.g. the demo catalog: airhorns only) or "fail".
  async fetchToken() {
    try {
      const body = await getJson("/spotify/token");
      this.token = body.access_token || null;
      const ttlS = Number(body.expires_in ?? 0);
      this.tokenExpiresAt = Date.now() + (ttlS > 0 ? ttlS : 300) * 1000;
      return this.token ? "ok" : "fail";
    } catch (err) {
      this.token = null;
      if (err instanceof ApiError && (err.status === 404 || err.status === 409)) {
        this.status("Link your Spotify account to listen along.", {
          kind: "warn",
          link: { href: "/spotify/connect", text: "Connect Spotify" },
        });
        return "fail";
      }
      if (err instanceof ApiError && err.status === 503) {
        this.status(`${err.message} You will still hear the airhorns.`, { kind: "warn" });
        return "sounds";
      }
      this.status(`Could not get your Spotify token: ${err.message}`, { kind: "error" });
      return "fail";
    }
  }

  async ensureToken() {
    if (this.soundsOnly) return false;
    if (this.token && Date.now() < this.tokenExpiresAt - 60000) return true;
    return (await this.fetchToken()) === "ok";
  }

  async enable() {
    this.enabled = true;
    this.playingId = null;
    this.sentPaused = false;
    const result = await this.fetchToken();
    if (result === "fail") {
      this.enabled = false;
      this.onChange(false);
      return false;
    }
    this.soundsOnly = result === "sounds";
    if (!this.soundsOnly) this.status("Listening along on your Spotify.", { kind: "ok" });
    this.onChange(true);
    return true;
  }

  disable() {
    this.enabled = false;
    this.playingId = null;
    this.status("");
    this.onChange(false);
  }

  // One Spotify call with the retries the Connect API needs: a device that is waking up answers
  // 404 / 5xx for a moment; an expired token answers 401 once.
  async call(method, path, body) {
    let refreshed = false;
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      if (!this.enabled || !(await this.ensureToken())) return false;
      let resp;
      try {
        resp = await fetch(SPOTIFY + path, {
          method,
          headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch {
        await sleep(1000);
        continue;
      }
      if (resp.ok) return true;
      if (resp.status === 401 && !refreshed) {
        refreshed = true;
        this.token = null;
        continue;
      }
      let reason = "";
      try {
        const data = await resp.json();
        reason = (data.error && (data.error.reason || data.error.message)) || "";
      } catch {
        reason = "";
      }
      if (resp.status === 404) {
        if (attempt < RETRIES) {
          await sleep(1000);
          continue;
        }
        this.status(
          "No active Spotify device. Open Spotify on your phone or computer, play anything for a second, then turn Listen along off and on.",
          { kind: "warn" },
        );
        return false;
      }
      if (resp.status === 403) {
        this.status("Spotify refused to control playback (a Premium account is needed).", { kind: "error" });
        return false;
      }
      if (resp.status === 429) {
        const wait = Number(resp.headers.get("Retry-After") || "2");
        await sleep(Math.min(wait, 10) * 1000);
        continue;
      }
      if (resp.status >= 500 && attempt < RETRIES) {
        await sleep(1000);
        continue;
      }
      this.status(`Spotify said no (${resp.status}${reason ? `: ${reason}` : ""}).`, { kind: "error" });
      return false;
    }
    return false;
  }

  // The user's own device volume (0-100; 0 when muted here). Serialised with the follow calls.
  setVolume(percent) {
    if (!this.enabled || this.soundsOnly) return this.busy;
    const value = Math.max(0, Math.min(100, Math.round(percent)));
    this.busy = this.busy.then(() => this.call("PUT", `/volume?volume_percent=${value}`)).catch(() => {});
    return this.busy;
  }

  // Called on every now-playing change; calls are serialised so a quick skip cannot interleave.
  follow(now, positionMs) {
    this.busy = this.busy.then(() => this.apply(now, positionMs)).catch(() => {});
    return this.busy;
  }

  async apply(now, positionMs) {
    if (!this.enabled || this.soundsOnly) return;
    if (!now || !now.uri) {
      if (this.playingId !== null && !this.sentPaused) await this.call("PUT", "/pause");
      this.playingId = null;
      return;
    }
    if (now.paused) {
      if (!this.sentPaused) {
        this.sentPaused = true;
        await this.call("PUT", "/pause");
      }
      return;
    }
    if (now.id !== this.playingId || this.sentPaused) {
      // Once per track (and on resume): start it at the shared position.
      this.playingId = now.id;
      this.sentPaused = false;
      const ok = await this.call("PUT", "/play", {
        uris: [now.uri],
        position_ms: Math.max(0, Math.floor(positionMs())),
      });
      if (ok) this.status("Listening along on your Spotify.", { kind: "ok" });
    }
  }
}
