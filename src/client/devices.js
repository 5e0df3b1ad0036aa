// @ts-check
// This browser's camera and microphone over a whole visit: what the person
// wants (on or off), the track once the device has opened, and why it did
// not. The pre-join page creates it and starts opening the devices; the
// call takes it over when "Join" is pressed, whether or not the devices are
// open yet, and publishes each track the moment it exists. No DOM.
//
// Every open is numbered per device: a result that arrives after the
// person changed their mind (turned the camera off, chose another device,
// left) is stopped, never published. A track that ends by itself (device
// unplugged, permission withdrawn) is reported as `ended`.
//
// Event (CustomEvent): `change`, detail the kind ('camera' | 'mic'), after
// anything about that device changed.

import { openBoth, openDevice } from './media.js';

/**
 * @typedef {'camera' | 'mic'} Kind
 * @typedef {import('./media.js').MediaProblem | 'ended'} DeviceProblem
 * @typedef {'on' | 'off' | 'starting' | 'failed'} DeviceState
 *   `starting`: wanted, the device is being opened (or its permission
 *   prompt is open); `failed`: wanted, but it could not be opened (see
 *   `problem`).
 *
 * @typedef {object} Device
 * @property {boolean} want the person wants it on
 * @property {MediaStreamTrack | null} track the open device (a microphone
 *   that is off stays open, disabled, so turning it on is instant)
 * @property {boolean} pending an open is under way
 * @property {DeviceProblem | null} problem why the last open failed
 * @property {string} deviceId chosen device ('' = the browser's default)
 * @property {number} op number of the latest open or cancel
 */

export class LocalDevices extends EventTarget {
  /**
   * @param {{cameraId: string, micId: string}} choice remembered devices
   * @param {{camera?: boolean, mic?: boolean}} [want] what to start with (default both on)
   */
  constructor(choice, want = {}) {
    super();
    /** @type {Device} */
    this.camera = { want: want.camera ?? true, track: null, pending: false, problem: null, deviceId: choice.cameraId, op: 0 };
    /** @type {Device} */
    this.mic = { want: want.mic ?? true, track: null, pending: false, problem: null, deviceId: choice.micId, op: 0 };
    this.disposed = false;
  }

  /**
   * @param {Kind} kind
   * @returns {DeviceState}
   */
  state(kind) {
    const d = this[kind];
    if (!d.want) return 'off';
    if (d.track) return 'on';
    return d.pending ? 'starting' : 'failed';
  }

  /**
   * The track to send for `kind`: the camera only while it is on; the
   * microphone whenever it is open (off = disabled).
   * @param {Kind} kind
   */
  published(kind) {
    const d = this[kind];
    return kind === 'camera' && !d.want ? null : d.track;
  }

  /** Whether any device is still being opened. */
  get starting() {
    return this.camera.pending || this.mic.pending;
  }

  /** Opens what is wanted, camera and microphone with one permission prompt. */
  async start() {
    const want = { camera: this.camera.want, mic: this.mic.want };
    if (!want.camera && !want.mic) return;
    if (!want.camera || !want.mic) {
      await this.open(want.camera ? 'camera' : 'mic');
      return;
    }
    const ops = { camera: this.begin('camera'), mic: this.begin('mic') };
    const res = await openBoth({ cameraId: this.camera.deviceId, micId: this.mic.deviceId });
    this.settle('camera', ops.camera, res.camera, res.cameraProblem);
    this.settle('mic', ops.mic, res.mic, res.micProblem);
  }

  /**
   * Turns a device on (opening it when needed) or off. The camera's light
   * goes off with it; the microphone stays open, disabled.
   * @param {Kind} kind
   * @param {boolean} on
   */
  async set(kind, on) {
    const d = this[kind];
    d.want = on;
    if (!on) {
      if (kind === 'camera') {
        d.op++;
        d.pending = false;
        d.track?.stop();
        d.track = null;
      }
      d.problem = null;
    }
    if (d.track) d.track.enabled = kind === 'camera' || on;
    if (on && !d.track && !d.pending) {
      await this.open(kind);
      return;
    }
    this.changed(kind);
  }

  /**
   * Switches to another camera or microphone; the old one is closed
   * first (some devices cannot be opened twice).
   * @param {Kind} kind
   * @param {string} deviceId
   */
  async choose(kind, deviceId) {
    const d = this[kind];
    d.deviceId = deviceId;
    if (kind === 'camera' && !d.want) return;
    d.track?.stop();
    d.track = null;
    await this.open(kind);
  }

  /** Stops every device and drops results still to come. */
  dispose() {
    this.disposed = true;
    for (const d of [this.camera, this.mic]) {
      d.op++;
      d.pending = false;
      d.track?.stop();
      d.track = null;
    }
  }

  /** @param {Kind} kind */
  async open(kind) {
    const op = this.begin(kind);
    this.changed(kind);
    const res = await openDevice(kind, this[kind].deviceId);
    this.settle(kind, op, res.track, res.problem);
  }

  /**
   * Numbers a new open of `kind`; results of earlier ones are dropped.
   * @param {Kind} kind
   */
  begin(kind) {
    const d = this[kind];
    d.pending = true;
    d.problem = null;
    return ++d.op;
  }

  /**
   * The result of open number `op`.
   * @param {Kind} kind
   * @param {number} op
   * @param {MediaStreamTrack | null} track
   * @param {DeviceProblem | null} problem
   */
  settle(kind, op, track, problem) {
    const d = this[kind];
    if (this.disposed || op !== d.op) {
      track?.stop();
      return;
    }
    d.pending = false;
    if (kind === 'camera' && !d.want) {
      track?.stop();
      track = null;
      problem = null;
    }
    if (d.track && d.track !== track) d.track.stop();
    d.track = track;
    d.problem = track ? null : problem;
    if (track) {
      track.enabled = kind === 'camera' || d.want;
      track.addEventListener('ended', () => this.ended(kind, track));
    }
    this.changed(kind);
  }

  /**
   * A track ended by itself (unplugged, taken away).
   * @param {Kind} kind
   * @param {MediaStreamTrack} track
   */
  ended(kind, track) {
    const d = this[kind];
    if (d.track !== track || this.disposed) return;
    d.track = null;
    d.problem = 'ended';
    this.changed(kind);
  }

  /** @param {Kind} kind */
  changed(kind) {
    if (!this.disposed) this.dispatchEvent(new CustomEvent('change', { detail: kind }));
  }
}
