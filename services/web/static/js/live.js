// Live updates over Server-Sent Events. EventSource reconnects by itself after a network error
// and sends Last-Event-ID, so the server replays what we missed. Only when the server refuses the
// stream (e.g. the session ended) does EventSource give up; then we open a new one after a pause
// (a fresh stream starts with a snapshot of the queue and now playing).
//
// The queue arrives once whole (`queue_update`, with its version) and then as small
// `queue_delta` events (docs/contracts.md, Events); this module keeps the view and hands the
// page's `queue_update` handler the whole view after every change, so pages never see a delta.

import { getJson } from "./api.js";

const TYPES = ["now_playing", "player_position", "airhorn", "credits", "room"];

// The steps of shared/queue/delta.py `apply`: drop the removed and moved ids, replace changed
// records in place, insert the moved ids in order after their anchors. Returns null when the
// delta was not made from this view (the caller takes a fresh snapshot).
export function applyDelta(view, delta) {
  if (!view || view.version !== delta.base) return null;
  const moved = new Set(delta.moves.map(([id]) => id));
  const dropped = new Set([...delta.removed, ...moved]);
  const changed = new Map(delta.items.map((item) => [item.id, item]));
  const byId = new Map(view.queue.map((item) => [item.id, item]));
  const queue = [];
  for (const item of view.queue) {
    if (!dropped.has(item.id)) queue.push(changed.get(item.id) || item);
  }
  for (const [id, after] of delta.moves) {
    const record = changed.get(id) || byId.get(id);
    if (!record) return null;
    let at = 0;
    if (after !== null) {
      at = queue.findIndex((item) => item.id === after) + 1;
      if (at === 0) return null;
    }
    queue.splice(at, 0, record);
  }
  const preview = "preview" in delta ? delta.preview : view.preview;
  return { version: delta.version, queue, preview };
}

export function connectLive(handlers, { onStatus = () => {} } = {}) {
  let source = null;
  let retryMs = 1000;
  let view = null;

  function setView(next) {
    view = next;
    if (handlers.queue_update) handlers.queue_update(view);
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  }

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
    source.addEventListener("queue_update", (event) => {
      const data = parse(event);
      if (data && Array.isArray(data.queue)) setView(data);
    });
    source.addEventListener("queue_delta", (event) => {
      const data = parse(event);
      if (!data) return;
      const next = applyDelta(view, data);
      if (next) {
        setView(next);
      } else if (!view || view.version !== data.version) {
        // Not made from the view we hold (a resume on another server that had not caught up):
        // start a fresh stream, which begins with the whole queue.
        view = null;
        source.close();
        open();
      }
    });
    for (const type of TYPES) {
      source.addEventListener(type, (event) => {
        const data = parse(event);
        const handler = handlers[type];
        if (data !== null && handler) handler(data, event);
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
