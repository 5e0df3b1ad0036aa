// devices.js: camera and microphone whatever the order of opening, turning
// on and off, choosing another device and leaving.
import assert from 'node:assert/strict';
import { test } from 'node:test';

/** A fake track: counts stop(), fires `ended` on demand. */
class Track extends EventTarget {
  constructor(kind, id) {
    super();
    this.kind = kind;
    this.id = id;
    this.enabled = true;
    this.stopped = false;
    this.readyState = 'live';
  }
  stop() {
    this.stopped = true;
    this.readyState = 'ended';
  }
  end() {
    this.readyState = 'ended';
    this.dispatchEvent(new Event('ended'));
  }
}

/** getUserMedia calls wait until the test resolves them, one by one, in any order. */
const pending = [];
let made = 0;
globalThis.navigator = {
  mediaDevices: {
    getUserMedia: (c) => new Promise((resolve, reject) => pending.push({ c, resolve, reject })),
  },
};
globalThis.MediaStream = class {
  constructor(tracks) {
    this.tracks = tracks;
  }
  getTracks() {
    return this.tracks;
  }
  getVideoTracks() {
    return this.tracks.filter((t) => t.kind === 'video');
  }
  getAudioTracks() {
    return this.tracks.filter((t) => t.kind === 'audio');
  }
};
const { LocalDevices } = await import('../../../src/client/devices.js');

const tick = () => new Promise((r) => setTimeout(r, 0));
/** Resolves the oldest waiting getUserMedia with tracks for what it asked. */
async function grant(index = 0) {
  await tick();
  const [req] = pending.splice(index, 1);
  const tracks = [];
  if (req.c.video) tracks.push(new Track('video', `v${++made}`));
  if (req.c.audio) tracks.push(new Track('audio', `a${++made}`));
  req.resolve(new globalThis.MediaStream(tracks));
  await tick();
  return tracks;
}
async function refuse(name) {
  await tick();
  const [req] = pending.splice(0, 1);
  req.reject(Object.assign(new Error(name), { name }));
  await tick();
}

test('both devices start opening at once and are on when they open', async () => {
  const d = new LocalDevices({ cameraId: '', micId: '' });
  const started = d.start();
  assert.equal(d.state('camera'), 'starting');
  assert.equal(d.state('mic'), 'starting');
  const [video, audio] = await grant();
  await started;
  assert.equal(d.state('camera'), 'on');
  assert.equal(d.published('camera'), video);
  assert.equal(d.mic.track, audio);
  assert.equal(audio.enabled, true);
});

test('the camera turned off while it is still opening stays off; its late track is stopped', async () => {
  const d = new LocalDevices({ cameraId: '', micId: '' });
  const started = d.start();
  await d.set('camera', false);
  const [video, audio] = await grant();
  await started;
  assert.equal(d.state('camera'), 'off');
  assert.equal(video.stopped, true);
  assert.equal(d.published('camera'), null);
  assert.equal(d.state('mic'), 'on');
  assert.equal(audio.stopped, false);
});

test('the microphone turned off while opening arrives disabled and can be turned on at once', async () => {
  const d = new LocalDevices({ cameraId: '', micId: '' });
  const started = d.start();
  await d.set('mic', false);
  const [, audio] = await grant();
  await started;
  assert.equal(d.state('mic'), 'off');
  assert.equal(audio.enabled, false);
  await d.set('mic', true);
  assert.equal(d.state('mic'), 'on');
  assert.equal(audio.enabled, true);
  assert.equal(pending.length, 0, 'no second getUserMedia for the open microphone');
});

test('a newer choice wins over an older open that finishes later', async () => {
  const d = new LocalDevices({ cameraId: '', micId: '' }, { mic: false });
  const first = d.start();
  await tick();
  const second = d.choose('camera', 'other');
  // The second open finishes first, then the first one.
  const [newer] = await grant(1);
  const [older] = await grant(0);
  await Promise.all([first, second]);
  assert.equal(d.published('camera'), newer);
  assert.equal(older.stopped, true);
});

test('leaving stops everything, including devices still opening', async () => {
  const d = new LocalDevices({ cameraId: '', micId: '' });
  const started = d.start();
  d.dispose();
  const [video, audio] = await grant();
  await started;
  assert.equal(video.stopped, true);
  assert.equal(audio.stopped, true);
  assert.equal(d.camera.track, null);
});

test('a camera that fails says why, and turning it on again tries again', async () => {
  const d = new LocalDevices({ cameraId: '', micId: '' }, { mic: false });
  const started = d.start();
  await refuse('NotReadableError');
  await started;
  assert.equal(d.state('camera'), 'failed');
  assert.equal(d.camera.problem, 'busy');
  const again = d.set('camera', true);
  assert.equal(d.state('camera'), 'starting');
  const [video] = await grant();
  await again;
  assert.equal(d.state('camera'), 'on');
  assert.equal(d.published('camera'), video);
});

test('a track that ends by itself is reported as ended', async () => {
  const d = new LocalDevices({ cameraId: '', micId: '' }, { mic: false });
  const changes = [];
  d.addEventListener('change', (e) => changes.push(e.detail));
  const started = d.start();
  const [video] = await grant();
  await started;
  video.end();
  assert.equal(d.state('camera'), 'failed');
  assert.equal(d.camera.problem, 'ended');
  assert.ok(changes.filter((k) => k === 'camera').length >= 2);
});
