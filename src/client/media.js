// @ts-check
// Camera and microphone: opening devices, telling why that failed, listing
// devices, and remembering the user's choices in this browser only
// (localStorage; nothing of it is ever sent to the server).

/**
 * Why a device could not be opened: `denied` (the user or the browser
 * blocked it), `missing` (no such device), `busy` (another program holds it),
 * `insecure` (no secure context / no mediaDevices), `failed` (anything else).
 * @typedef {'denied' | 'missing' | 'busy' | 'insecure' | 'failed'} MediaProblem
 */

/**
 * @typedef {object} Prefs
 * @property {string} name display name
 * @property {string} cameraId chosen camera ('' = browser default)
 * @property {string} micId chosen microphone ('' = browser default)
 */

const PREFS_KEY = 'kabine.prefs.v1';

/** @returns {Prefs} */
export function loadPrefs() {
  /** @type {Prefs} */
  const prefs = { name: '', cameraId: '', micId: '' };
  try {
    const raw = JSON.parse(localStorage.getItem(PREFS_KEY) ?? '{}');
    if (raw && typeof raw === 'object') {
      for (const k of /** @type {(keyof Prefs)[]} */ (['name', 'cameraId', 'micId'])) {
        if (typeof raw[k] === 'string') prefs[k] = raw[k];
      }
    }
  } catch {
    // Storage blocked or corrupt: start with defaults.
  }
  return prefs;
}

/** @param {Partial<Prefs>} changes */
export function savePrefs(changes) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify({ ...loadPrefs(), ...changes }));
  } catch {
    // Storage blocked (private mode): choices are simply not remembered.
  }
}

/**
 * @param {unknown} err
 * @returns {MediaProblem}
 */
export function classify(err) {
  const name = err instanceof Error || err instanceof DOMException ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return 'denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
    case 'DevicesNotFoundError':
      return 'missing';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'busy';
    default:
      return 'failed';
  }
}

/** @param {string} deviceId */
export function cameraConstraints(deviceId) {
  return {
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 30, max: 30 },
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
  };
}

/** @param {string} deviceId */
export function micConstraints(deviceId) {
  return {
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
  };
}

/**
 * Opens one device kind.
 * @param {'camera' | 'mic'} kind
 * @param {string} deviceId
 * @returns {Promise<{track: MediaStreamTrack | null, problem: MediaProblem | null}>}
 */
export async function openDevice(kind, deviceId) {
  if (!navigator.mediaDevices?.getUserMedia) return { track: null, problem: 'insecure' };
  const constraints =
    kind === 'camera' ? { video: cameraConstraints(deviceId) } : { audio: micConstraints(deviceId) };
  try {
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    return { track: stream.getTracks()[0] ?? null, problem: null };
  } catch (err) {
    // A remembered device that is gone: fall back to the default one.
    if (deviceId && classify(err) === 'missing') return openDevice(kind, '');
    return { track: null, problem: classify(err) };
  }
}

/**
 * Opens camera and microphone with one permission prompt where possible.
 * @param {{cameraId: string, micId: string}} choice
 * @returns {Promise<{camera: MediaStreamTrack | null, mic: MediaStreamTrack | null,
 *   cameraProblem: MediaProblem | null, micProblem: MediaProblem | null}>}
 */
export async function openBoth(choice) {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { camera: null, mic: null, cameraProblem: 'insecure', micProblem: 'insecure' };
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: cameraConstraints(choice.cameraId),
      audio: micConstraints(choice.micId),
    });
    return {
      camera: stream.getVideoTracks()[0] ?? null,
      mic: stream.getAudioTracks()[0] ?? null,
      cameraProblem: null,
      micProblem: null,
    };
  } catch {
    // One of the two failed (or both): try each alone to say which.
    const [cam, mic] = await Promise.all([openDevice('camera', choice.cameraId), openDevice('mic', choice.micId)]);
    return { camera: cam.track, mic: mic.track, cameraProblem: cam.problem, micProblem: mic.problem };
  }
}

/**
 * Cameras and microphones the browser shows (labels only after permission).
 * @returns {Promise<{cameras: MediaDeviceInfo[], mics: MediaDeviceInfo[]}>}
 */
export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], mics: [] };
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === 'videoinput' && d.deviceId),
    mics: all.filter((d) => d.kind === 'audioinput' && d.deviceId),
  };
}

/**
 * A level meter for a microphone track: calls `onLevel` (0…1) about ten
 * times a second until the returned stop function is called.
 * @param {MediaStreamTrack} track
 * @param {(level: number) => void} onLevel
 * @returns {() => void}
 */
export function levelMeter(track, onLevel) {
  /** @type {AudioContext | null} */
  let ctx = null;
  try {
    ctx = new AudioContext();
  } catch {
    return () => {};
  }
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    onLevel(track.enabled ? Math.min(1, peak / 64) : 0);
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
    ctx?.close().catch(() => {});
  };
}
