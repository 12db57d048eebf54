// Live updates over Server-Sent Events. EventSource reconnects by itself after a network error
// and sends Last-Event-ID, so the server replays what we missed. Only when the server refuses the
// stream (e.g. the session ended) does EventSource give up; then we open a new one after a pause
// (a fresh stream starts with a snapshot of the queue and now playing).

import { getJson } from "./api.js";

const TYPES = ["queue_update", "now_playing", "player_position", "airhorn", "credits", "room"];

export function connectLive(handlers, { onStatus = () => {} } = {}) {
  let source = null;
  let retryMs = 1000;

  function open() {
    source = new EventSource("/events");
    source.addEventListener("open", () => {
      retryMs = 1000;
      onStatus(true);
    });
    source.addEventListener("error", () => {
      onStatus(false);
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        // Refused rather than dropped: if the session ended, this call sends us to sign in.
        getJson("/queue").catch(() => {});
        setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    });
    for (const type of TYPES) {
      source.addEventListener(type, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        const handler = handlers[type];
        if (handler) handler(data, event);
      });
    }
  }

  open();
  return {
    close() {
      if (source) source.close();
    },
  };
}
