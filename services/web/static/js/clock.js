// Position of the playing song between server updates. The server stamps each now-playing and
// position message with its own clock (server_time, unix seconds); the browser's clock may be
// off by seconds, so we estimate the offset and interpolate on the server's time line.

const samples = [];
const MAX_SAMPLES = 30;

// A fresh message arrives a few ms after server_time; a replayed or delayed one arrives later and
// would make the server look behind. The largest (server - local) difference seen recently is
// therefore the best estimate of the real offset.
export function noteServerTime(serverTimeS) {
  if (typeof serverTimeS !== "number" || !Number.isFinite(serverTimeS)) return;
  samples.push(serverTimeS * 1000 - Date.now());
  if (samples.length > MAX_SAMPLES) samples.shift();
}

export function serverNowMs() {
  if (samples.length === 0) return Date.now();
  return Date.now() + Math.max(...samples);
}

// anchor: {posMs, serverTimeMs, paused, durationMs}: where `song` (a now-playing view) stood at
// serverTimeS, from its now-playing message or a position message about it. Notes the server time.
export function anchorAt(serverTimeS, posMs, song) {
  noteServerTime(serverTimeS);
  return { posMs, serverTimeMs: serverTimeS * 1000, paused: Boolean(song.paused), durationMs: song.duration_ms };
}

// Whether a position message is about the song now playing (else it is stale and ignored).
export function isPositionOf(data, now) {
  return Boolean(now && data && data.trackid === now.uri);
}

export function positionAt(anchor, nowServerMs = serverNowMs()) {
  if (!anchor) return 0;
  const elapsed = anchor.paused ? 0 : Math.max(0, nowServerMs - anchor.serverTimeMs);
  const pos = anchor.posMs + elapsed;
  return anchor.durationMs > 0 ? Math.min(pos, anchor.durationMs) : pos;
}
