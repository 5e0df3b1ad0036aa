// @ts-check
// A patient's appointment link (`/t/<token>#k=…`, docs/teletherapy.md):
// the appointment (practice, therapist, time), the practice's consent text
// that must be accepted before anything is sent, then name and a device
// check (camera preview, a speaker test that sounds only when asked, a
// bandwidth estimate), and one button to the waiting room. The call itself
// is call.js; the hello carries the link and the accepted consent version.

import { announce, h, icon, showPage } from './dom.js';
import { language, problemText, t } from './i18n.js';
import { levelMeter, loadPrefs, savePrefs } from './media.js';
import { LocalDevices } from './devices.js';
import { MAX_NAME_CHARS } from './protocol.js';
import { renderCall } from './call.js';
import { formats } from './record.js';

/**
 * What `GET /api/appointment/{token}` tells a patient (unix seconds).
 * @typedef {object} PatientView
 * @property {string} practice
 * @property {string} therapist
 * @property {string | null} title
 * @property {number} start
 * @property {number} duration_minutes
 * @property {boolean} group
 * @property {string} room
 * @property {string} link
 * @property {{version: string, text_de: string, text_en: string, privacy_url: string | null}} consent
 */

/** The probe's size (bytes), as the server sends it. */
const PROBE_BYTES = 256 * 1024;

/**
 * Measures the download speed with `/api/probe`: Mbit/s, or null.
 * @returns {Promise<number | null>}
 */
export async function measureBandwidth() {
  try {
    const t0 = performance.now();
    const r = await fetch(`/api/probe?${Date.now()}`, { cache: 'no-store', credentials: 'omit' });
    if (!r.ok) return null;
    const bytes = (await r.arrayBuffer()).byteLength || PROBE_BYTES;
    const secs = Math.max(0.001, (performance.now() - t0) / 1000);
    return (bytes * 8) / secs / 1e6;
  } catch {
    return null;
  }
}

/**
 * The bandwidth in words: good from 2 Mbit/s (video in good quality),
 * fair from 0.6 (the lower video layers), weak below.
 * @param {number | null} mbit
 */
export function bandwidthText(mbit) {
  if (mbit === null) return t('check_bandwidth_failed');
  const shown = mbit >= 10 ? String(Math.round(mbit)) : mbit.toFixed(1);
  const key = mbit >= 2 ? 'check_bandwidth_good' : mbit >= 0.6 ? 'check_bandwidth_fair' : 'check_bandwidth_poor';
  return t(key, { mbit: shown });
}

/**
 * Plays a short, soft tone (only ever on a click: nothing sounds by itself).
 * @returns {Promise<boolean>} whether it played
 */
async function playTestTone() {
  const Ctx = window.AudioContext ?? /** @type {any} */ (window).webkitAudioContext;
  if (!Ctx) return false;
  const ctx = new Ctx();
  try {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = 523.25;
    const now = ctx.currentTime;
    gain.gain.setValueAtTime(0, now);
    gain.gain.linearRampToValueAtTime(0.08, now + 0.15);
    gain.gain.linearRampToValueAtTime(0.08, now + 1.1);
    gain.gain.linearRampToValueAtTime(0, now + 1.5);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now);
    osc.stop(now + 1.55);
    await new Promise((resolve) => {
      osc.onended = resolve;
      setTimeout(resolve, 2500);
    });
    return true;
  } catch {
    return false;
  } finally {
    ctx.close().catch(() => {});
  }
}

/**
 * The device check: camera preview, microphone level, camera and
 * microphone on/off, speaker test, bandwidth. Used before joining and on
 * the waiting page.
 * @param {LocalDevices} devices
 * @param {string} idPrefix keeps element ids unique
 * @returns {{el: HTMLElement, dispose: () => void}}
 */
export function deviceCheck(devices, idPrefix) {
  /** @type {() => void} */ let stopMeter = () => {};
  /** @type {MediaStreamTrack | null} */ let metered = null;
  const video = h('video', { class: 'preview-video mirrored', muted: true, autoplay: true, playsInline: true,
    disablePictureInPicture: true });
  video.setAttribute('aria-hidden', 'true');
  const placeholder = h('div', { class: 'preview-off', text: t('preview_off') });
  const meterBar = h('span', { class: 'meter-bar' });
  const meter = h('div', { class: 'meter', 'aria-hidden': 'true' }, meterBar);
  const camProblem = h('p', { class: 'problem', role: 'alert', id: `${idPrefix}-camera-problem` });
  const micProblem = h('p', { class: 'problem', role: 'alert', id: `${idPrefix}-mic-problem` });
  const camButton = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'true', id: `${idPrefix}-camera` });
  const micButton = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'true', id: `${idPrefix}-mic` });
  const speakerStatus = h('p', { class: 'hint', id: `${idPrefix}-speaker-status`, role: 'status' });
  const speaker = h('button', { type: 'button', class: 'secondary small', id: `${idPrefix}-speaker-test`,
    'aria-describedby': `${idPrefix}-speaker-status`,
    on: { click: async () => {
      speaker.disabled = true;
      speakerStatus.textContent = t('check_speaker_playing');
      const ok = await playTestTone();
      speakerStatus.textContent = t(ok ? 'check_speaker_done' : 'check_speaker_failed');
      speaker.disabled = false;
    } } }, icon('volume'), h('span', { text: t('check_speaker') }));
  const bandwidth = h('p', { class: 'bandwidth', id: `${idPrefix}-bandwidth`, role: 'status', text: t('check_bandwidth_measuring') });
  const again = h('button', { type: 'button', class: 'secondary small', id: `${idPrefix}-bandwidth-again`,
    text: t('check_bandwidth_again'), on: { click: () => measure() } });
  async function measure() {
    again.disabled = true;
    bandwidth.textContent = t('check_bandwidth_measuring');
    const mbit = await measureBandwidth();
    bandwidth.textContent = bandwidthText(mbit);
    bandwidth.dataset.mbit = mbit === null ? '' : mbit.toFixed(2);
    again.disabled = false;
  }

  function paint() {
    for (const [button, kind, icons] of /** @type {const} */ ([
      [camButton, 'camera', ['camera', 'cameraOff']], [micButton, 'mic', ['mic', 'micOff']]])) {
      const state = devices.state(kind);
      const on = state === 'on';
      button.setAttribute('aria-pressed', String(on));
      const text = state === 'starting' ? t(`${kind}_starting`) : t(on ? `${kind}_is_on` : `${kind}_is_off`);
      button.replaceChildren(icon(on || state === 'starting' ? icons[0] : icons[1]), h('span', { text }));
      button.classList.toggle('off', !on);
    }
    camProblem.textContent = problemText(devices.camera.problem, 'camera');
    micProblem.textContent = problemText(devices.mic.problem, 'mic');
    const camera = devices.published('camera');
    video.hidden = !camera;
    placeholder.hidden = !!camera;
    const shown = video.srcObject instanceof MediaStream ? video.srcObject.getVideoTracks()[0] : null;
    if (shown !== camera) video.srcObject = camera ? new MediaStream([camera]) : null;
    const mic = devices.mic.track;
    meter.hidden = devices.state('mic') !== 'on';
    if (mic !== metered) {
      stopMeter();
      metered = mic;
      stopMeter = mic ? levelMeter(mic, (level) => {
        meterBar.style.width = `${Math.round(level * 100)}%`;
      }) : () => {};
    }
  }
  /** @param {'camera' | 'mic'} kind */
  const toggle = (kind) => {
    const state = devices.state(kind);
    devices.set(kind, state === 'off' || state === 'failed').catch(() => {});
  };
  camButton.addEventListener('click', () => toggle('camera'));
  micButton.addEventListener('click', () => toggle('mic'));
  devices.addEventListener('change', paint);
  paint();
  measure();
  const el = h('div', { class: 'device-check' },
    h('div', { class: 'preview' },
      h('div', { class: 'preview-frame' }, video, placeholder, meter),
      h('div', { class: 'preview-controls', role: 'group', 'aria-label': t('preview_controls') }, micButton, camButton),
      micProblem, camProblem),
    h('div', { class: 'check-more' },
      h('div', { class: 'row' }, speaker), speakerStatus,
      h('h3', { class: 'check-heading', text: t('check_bandwidth') }), bandwidth, again));
  return {
    el,
    dispose() {
      stopMeter();
      devices.removeEventListener('change', paint);
      video.srcObject = null;
    },
  };
}

/**
 * @param {import('./app.js').App} app
 * @param {string} token
 */
export async function renderPatient(app, token) {
  const f = formats();
  /** @type {{status: number, body: any}} */ let r;
  try {
    const res = await fetch(`/api/appointment/${encodeURIComponent(token)}`, { cache: 'no-store', credentials: 'omit' });
    r = { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    r = { status: 0, body: null };
  }
  if (r.status !== 200 || !r.body) {
    const code = r.body?.error;
    const known = ['unknown_link', 'revoked', 'expired', 'not_yet'].includes(code) ? code : 'other';
    const opens = typeof r.body?.opens_at === 'number' ? f.dateTime(r.body.opens_at) : '';
    showPage(app.root, `${t('patient_title')} – ${app.config.app_name}`,
      h('section', { class: 'patient card', id: 'appointment-refused', dataset: { reason: known } },
        h('h1', { text: t('patient_title') }),
        h('p', { class: 'notice', text: t(/** @type {any} */ (`patient_link_invalid_${known}`), { time: opens }) })));
    return;
  }
  /** @type {PatientView} */ const view = r.body;
  const when = t('patient_when', { date: f.date(view.start), time: f.time(view.start), minutes: view.duration_minutes });
  const heading = () => [
    h('h1', { text: view.title || t('patient_title') }),
    h('p', { class: 'lead', id: 'appointment-with', text: t('patient_with', { practice: view.practice, therapist: view.therapist }) }),
    h('p', { class: 'when', id: 'appointment-when' }, icon('clock'), h('span', { text: when })),
  ];
  const title = `${t('patient_title')} – ${view.practice}`;
  consentStep();

  function consentStep() {
    const text = language() === 'de' ? view.consent.text_de : view.consent.text_en;
    const privacy = view.consent.privacy_url && /^https?:\/\//i.test(view.consent.privacy_url) ? view.consent.privacy_url
      : view.consent.privacy_url?.startsWith('/') ? view.consent.privacy_url : null;
    showPage(app.root, title,
      h('section', { class: 'patient', id: 'patient-consent' }, ...heading(),
        h('div', { class: 'card consent', role: 'group', 'aria-labelledby': 'consent-title' },
          h('h2', { id: 'consent-title', text: t('consent_title') }),
          h('p', { text: t('consent_intro') }),
          h('div', { class: 'consent-text', id: 'consent-text', tabIndex: 0, 'aria-label': t('consent_title') },
            ...text.split(/\n{2,}/).map((para) => h('p', { text: para }))),
          privacy ? h('p', {}, h('a', { href: privacy, rel: 'noopener noreferrer', target: '_blank', id: 'consent-privacy',
            text: t('consent_privacy') })) : null,
          h('div', { class: 'row' },
            h('button', { type: 'button', class: 'primary', id: 'consent-accept', text: t('consent_accept'),
              on: { click: () => checkStep() } }),
            h('button', { type: 'button', class: 'secondary', id: 'consent-decline', text: t('consent_decline'),
              on: { click: () => declined() } })))));
  }

  function declined() {
    showPage(app.root, title,
      h('section', { class: 'patient card', id: 'consent-declined' },
        h('h1', { text: t('consent_declined_title') }),
        h('p', { text: t('consent_declined_text') }),
        h('p', { class: 'lead', text: t('patient_with', { practice: view.practice, therapist: view.therapist }) }),
        h('button', { type: 'button', class: 'secondary', id: 'consent-again', text: t('consent_back'),
          on: { click: () => consentStep() } })));
  }

  function checkStep() {
    const prefs = loadPrefs();
    const devices = new LocalDevices(prefs);
    const check = deviceCheck(devices, 'check');
    const nameInput = h('input', { id: 'display-name', type: 'text', autocomplete: 'name', maxLength: MAX_NAME_CHARS,
      required: true, 'aria-describedby': 'name-error', value: prefs.name });
    const nameError = h('p', { id: 'name-error', class: 'field-error', 'aria-live': 'assertive' });
    const onLeave = () => {
      check.dispose();
      devices.dispose();
      window.removeEventListener('kabine:leave', onLeave);
    };
    window.addEventListener('kabine:leave', onLeave);
    const form = h('form', { class: 'card prejoin-form', novalidate: true, on: { submit: (/** @type {Event} */ e) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      if (!name) {
        nameError.textContent = t('name_required');
        nameInput.setAttribute('aria-invalid', 'true');
        nameInput.focus();
        return;
      }
      savePrefs({ name });
      check.dispose();
      window.removeEventListener('kabine:leave', onLeave);
      renderCall(app, view.room, {
        displayName: name,
        devices,
        appointment: { token, consent: view.consent.version },
        patient: { when: t('wait_time', { date: f.date(view.start), time: f.time(view.start) }), path: location.pathname,
          title: view.title || t('patient_title') },
      });
    } } },
    h('label', { for: 'display-name', text: t('name_label') }), nameInput, nameError,
    h('button', { type: 'submit', class: 'primary join', id: 'join-button', text: t('patient_join') }));
    showPage(app.root, title,
      h('section', { class: 'prejoin patient', id: 'patient-check' }, ...heading(),
        h('h2', { text: t('check_title') }),
        h('p', { class: 'hint', text: t('check_lead') }),
        h('div', { class: 'prejoin-grid' }, check.el, form)));
    announce(t('check_title'));
    nameInput.focus();
    devices.start().catch((err) => console.warn('kabine: opening media failed', err));
  }
}
