// Airhorn sounds synthesised with WebAudio: no audio files, nothing copyrighted. The context is
// created from a click (browsers only allow sound after a user gesture), i.e. when someone
// turns on "Listen along".

let ctx = null;

export function unlockAudio() {
  if (!ctx) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return false;
    ctx = new Ctor();
  }
  if (ctx.state === "suspended") ctx.resume();
  return true;
}

function out(gainValue) {
  const gain = ctx.createGain();
  gain.gain.value = gainValue;
  gain.connect(ctx.destination);
  return gain;
}

function envelope(param, t0, attack, hold, release, peak) {
  param.setValueAtTime(0.0001, t0);
  param.exponentialRampToValueAtTime(peak, t0 + attack);
  param.setValueAtTime(peak, t0 + attack + hold);
  param.exponentialRampToValueAtTime(0.0001, t0 + attack + hold + release);
}

// The classic stadium horn: three detuned sawtooths a fifth apart, with a little pitch scoop.
function airhorn(dest, t0) {
  for (const [freq, detune] of [[233, 0], [349, 6], [466, -7]]) {
    for (const blast of [0, 0.42]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sawtooth";
      osc.detune.value = detune;
      osc.frequency.setValueAtTime(freq * 0.94, t0 + blast);
      osc.frequency.linearRampToValueAtTime(freq, t0 + blast + 0.06);
      envelope(gain.gain, t0 + blast, 0.02, blast ? 0.7 : 0.25, 0.12, 0.22);
      osc.connect(gain).connect(dest);
      osc.start(t0 + blast);
      osc.stop(t0 + blast + 1.0);
    }
  }
}

// A two-tone siren sweeping up and down.
function siren(dest, t0) {
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = "square";
  for (let i = 0; i < 4; i++) {
    osc.frequency.setValueAtTime(i % 2 ? 960 : 640, t0 + i * 0.35);
    osc.frequency.linearRampToValueAtTime(i % 2 ? 640 : 960, t0 + (i + 1) * 0.35);
  }
  envelope(gain.gain, t0, 0.03, 1.25, 0.12, 0.12);
  osc.connect(gain).connect(dest);
  osc.start(t0);
  osc.stop(t0 + 1.5);
}

// A foghorn: two low, slightly detuned sawtooths through a low-pass filter, one long blast.
function foghorn(dest, t0) {
  const filter = ctx.createBiquadFilter();
  filter.type = "lowpass";
  filter.frequency.value = 420;
  filter.connect(dest);
  for (const [freq, detune] of [[73.4, 0], [110, 8]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sawtooth";
    osc.frequency.value = freq;
    osc.detune.value = detune;
    envelope(gain.gain, t0, 0.15, 1.2, 0.5, 0.5);
    osc.connect(gain).connect(filter);
    osc.start(t0);
    osc.stop(t0 + 2.0);
  }
}

function noiseBuffer(seconds) {
  const length = Math.floor(ctx.sampleRate * seconds);
  const buffer = ctx.createBuffer(1, length, ctx.sampleRate);
  const data = buffer.getChannelData(0);
  for (let i = 0; i < length; i++) data[i] = Math.random() * 2 - 1;
  return buffer;
}

// Ba-dum-tss: two tom hits (sine with a pitch drop) and a high-passed noise cymbal.
function rimshot(dest, t0) {
  for (const [at, freq] of [[0, 180], [0.16, 130]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.setValueAtTime(freq, t0 + at);
    osc.frequency.exponentialRampToValueAtTime(freq * 0.5, t0 + at + 0.15);
    envelope(gain.gain, t0 + at, 0.003, 0.02, 0.16, 0.6);
    osc.connect(gain).connect(dest);
    osc.start(t0 + at);
    osc.stop(t0 + at + 0.25);
  }
  const src = ctx.createBufferSource();
  const filter = ctx.createBiquadFilter();
  const gain = ctx.createGain();
  src.buffer = noiseBuffer(1.0);
  filter.type = "highpass";
  filter.frequency.value = 6000;
  envelope(gain.gain, t0 + 0.34, 0.005, 0.05, 0.8, 0.35);
  src.connect(filter).connect(gain).connect(dest);
  src.start(t0 + 0.34);
}

// Wah-wah-wah-waaah: four falling notes on a muted brass-ish square wave, the last one wobbling.
function sadtrombone(dest, t0) {
  const notes = [[293.7, 0], [277.2, 0.45], [261.6, 0.9], [246.9, 1.35]];
  const filter = ctx.createBiquadFilter();
  filter.type = "lowpass";
  filter.frequency.value = 900;
  filter.connect(dest);
  notes.forEach(([freq, at], i) => {
    const last = i === notes.length - 1;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.setValueAtTime(freq * 1.02, t0 + at);
    osc.frequency.linearRampToValueAtTime(freq, t0 + at + 0.08);
    if (last) {
      const lfo = ctx.createOscillator();
      const depth = ctx.createGain();
      lfo.frequency.value = 6;
      depth.gain.value = 6;
      lfo.connect(depth).connect(osc.frequency);
      lfo.start(t0 + at);
      lfo.stop(t0 + at + 1.2);
    }
    envelope(gain.gain, t0 + at, 0.04, last ? 0.8 : 0.3, last ? 0.3 : 0.06, 0.18);
    osc.connect(gain).connect(filter);
    osc.start(t0 + at);
    osc.stop(t0 + at + (last ? 1.2 : 0.45));
  });
}

// Applause: many short band-passed noise claps at random times, swelling and fading.
function applause(dest, t0) {
  const clap = noiseBuffer(0.04);
  for (let i = 0; i < 70; i++) {
    const at = t0 + Math.random() * 2.0;
    const src = ctx.createBufferSource();
    const filter = ctx.createBiquadFilter();
    const gain = ctx.createGain();
    src.buffer = clap;
    filter.type = "bandpass";
    filter.frequency.value = 1000 + Math.random() * 1500;
    const swell = Math.sin(((at - t0) / 2.0) * Math.PI);
    gain.gain.value = 0.15 + 0.35 * swell;
    src.connect(filter).connect(gain).connect(dest);
    src.start(at);
  }
}

const SOUNDS = { airhorn, foghorn, siren, rimshot, sadtrombone, applause };

export function playHorn(name, volume = 0.4) {
  if (!ctx || ctx.state === "closed") return false;
  const synth = SOUNDS[name] || airhorn;
  synth(out(volume), ctx.currentTime + 0.02);
  return true;
}
