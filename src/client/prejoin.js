// @ts-check
// The pre-join page: display name, camera and microphone preview and
// choice, joining with camera or microphone off, and one "Join" button.

import { announce, h, icon, showPage } from './dom.js';
import { t } from './i18n.js';
import { levelMeter, listDevices, loadPrefs, openBoth, openDevice, savePrefs } from './media.js';
import { MAX_NAME_CHARS } from './protocol.js';
import { renderCall } from './call.js';
import { fetchSession, loginForm, logout } from './login.js';

/**
 * @param {import('./media.js').MediaProblem | null} problem
 * @param {'camera' | 'mic'} kind
 */
export function problemText(problem, kind) {
  if (!problem) return '';
  return t(`${kind}_${problem}`);
}

/**
 * @param {import('./app.js').App} app
 * @param {string} room
 */
export function renderPrejoin(app, room) {
  const prefs = loadPrefs();
  /** @type {MediaStreamTrack | null} */ let camera = null;
  /** @type {MediaStreamTrack | null} */ let mic = null;
  let cameraOn = true;
  let micOn = true;
  let left = false;
  /** @type {() => void} */ let stopMeter = () => {};

  const video = h('video', { class: 'preview-video mirrored', muted: true, autoplay: true, playsInline: true,
    disablePictureInPicture: true });
  video.setAttribute('aria-hidden', 'true');
  const placeholder = h('div', { class: 'preview-off', text: t('preview_off') });
  const meterBar = h('span', { class: 'meter-bar' });
  const meter = h('div', { class: 'meter', 'aria-hidden': 'true' }, meterBar);
  const camProblem = h('p', { class: 'problem', role: 'alert', id: 'camera-problem' });
  const micProblem = h('p', { class: 'problem', role: 'alert', id: 'mic-problem' });
  const camSelect = h('select', { id: 'camera-select', 'aria-describedby': 'camera-problem' });
  const micSelect = h('select', { id: 'mic-select', 'aria-describedby': 'mic-problem' });

  const camButton = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'true', id: 'prejoin-camera' });
  const micButton = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'true', id: 'prejoin-mic' });

  const nameInput = h('input', {
    id: 'display-name',
    type: 'text',
    autocomplete: 'name',
    maxLength: MAX_NAME_CHARS,
    required: app.config.require_display_name,
    'aria-describedby': 'name-error name-hint',
    value: prefs.name,
  });
  const nameError = h('p', { id: 'name-error', class: 'field-error', 'aria-live': 'assertive' });
  const nameHint = h('p', { id: 'name-hint', class: 'hint', hidden: true, text: t('name_from_account') });

  // Logging in: "I am the host" (secure mode), login first (closed mode),
  // who is logged in and logging out (docs/accounts.md).
  const accountBox = h('div', { class: 'account-box', id: 'account-box' });
  /** @type {import('./login.js').SessionInfo | null} */ let account = null;
  let loginOpen = false;
  /** @type {HTMLElement | null} */ let joinPart = null;

  function paintAccount() {
    const mode = account?.access_mode ?? 'open';
    const user = account?.user ?? null;
    nameInput.readOnly = !!user;
    nameHint.hidden = !user;
    if (user) nameInput.value = user.display_name;
    if (joinPart) joinPart.hidden = !user && mode === 'closed';
    if (user) {
      accountBox.replaceChildren(
        h('p', { class: 'who', id: 'logged-in' }, icon('user'), h('span', { text: t('logged_in_as', { name: user.display_name }) })),
        h('p', { class: 'hint', text: user.may_host ? t('logged_in_host') : t('logged_in_guest') }),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'secondary small', id: 'logout-button', text: t('logout'),
            on: { click: async () => {
              await logout();
              announce(t('logged_out'));
              nameInput.value = loadPrefs().name;
              account = await fetchSession();
              loginOpen = false;
              paintAccount();
              accountBox.querySelector('button')?.focus();
            } } }),
          user.can_change_password ? h('a', { href: '/account', class: 'account-link', text: t('account_link') }) : null));
      return;
    }
    const form = () => loginForm({ id: 'host-login', onLoggedIn: (info) => {
      account = info;
      paintAccount();
      (nameInput.value ? document.getElementById('join-button') : nameInput)?.focus();
    } });
    if (mode === 'closed') {
      accountBox.replaceChildren(h('p', { class: 'notice', text: t('closed_intro') }),
        h('h2', { class: 'login-title', text: t('login_title') }), form());
    } else if (mode === 'secure') {
      const toggle = h('button', { type: 'button', class: 'secondary', id: 'host-login-toggle',
        'aria-expanded': String(loginOpen), 'aria-controls': 'host-login-area', text: t('host_login_toggle'),
        on: { click: () => {
          loginOpen = !loginOpen;
          paintAccount();
          const next = loginOpen ? document.getElementById('host-login-username') : document.getElementById('host-login-toggle');
          next?.focus();
        } } });
      accountBox.replaceChildren(toggle, h('div', { id: 'host-login-area' },
        loginOpen ? [h('p', { class: 'hint', text: t('host_login_hint') }), form()]
          : h('p', { class: 'hint', text: t('secure_guest_hint') })));
    } else {
      accountBox.replaceChildren();
    }
  }

  function paint() {
    camButton.setAttribute('aria-pressed', String(cameraOn && !!camera));
    camButton.replaceChildren(icon(cameraOn && camera ? 'camera' : 'cameraOff'),
      h('span', { text: cameraOn && camera ? t('camera_is_on') : t('camera_is_off') }));
    camButton.classList.toggle('off', !(cameraOn && camera));
    micButton.setAttribute('aria-pressed', String(micOn && !!mic));
    micButton.replaceChildren(icon(micOn && mic ? 'mic' : 'micOff'),
      h('span', { text: micOn && mic ? t('mic_is_on') : t('mic_is_off') }));
    micButton.classList.toggle('off', !(micOn && mic));
    const showVideo = cameraOn && !!camera;
    video.hidden = !showVideo;
    placeholder.hidden = showVideo;
    video.srcObject = showVideo && camera ? new MediaStream([camera]) : null;
    meter.hidden = !(micOn && mic);
  }

  function startMeter() {
    stopMeter();
    stopMeter = mic ? levelMeter(mic, (level) => {
      meterBar.style.width = `${Math.round(level * 100)}%`;
    }) : () => {};
  }

  async function fillDevices() {
    const { cameras, mics } = await listDevices();
    /**
     * @param {HTMLSelectElement} select
     * @param {MediaDeviceInfo[]} devices
     * @param {MediaStreamTrack | null} track
     * @param {string} fallbackLabel
     */
    const fill = (select, devices, track, fallbackLabel) => {
      const current = track?.getSettings().deviceId ?? '';
      select.replaceChildren(...devices.map((d, i) =>
        h('option', { value: d.deviceId, text: d.label || `${fallbackLabel} ${i + 1}`, selected: d.deviceId === current })));
      select.disabled = devices.length === 0;
      if (devices.length === 0) select.append(h('option', { value: '', text: t('no_devices') }));
    };
    fill(camSelect, cameras, camera, t('camera'));
    fill(micSelect, mics, mic, t('microphone'));
  }

  async function openMedia() {
    const res = await openBoth({ cameraId: prefs.cameraId, micId: prefs.micId });
    if (left) {
      res.camera?.stop();
      res.mic?.stop();
      return;
    }
    camera = res.camera;
    mic = res.mic;
    camProblem.textContent = problemText(res.cameraProblem, 'camera');
    micProblem.textContent = problemText(res.micProblem, 'mic');
    paint();
    startMeter();
    await fillDevices();
  }

  camButton.addEventListener('click', async () => {
    if (cameraOn && camera) {
      cameraOn = false;
      camera.stop();
      camera = null;
    } else {
      cameraOn = true;
      const res = await openDevice('camera', camSelect.value || prefs.cameraId);
      camera = res.track;
      camProblem.textContent = problemText(res.problem, 'camera');
    }
    paint();
  });
  micButton.addEventListener('click', async () => {
    if (micOn && mic) {
      micOn = false;
    } else {
      micOn = true;
      if (!mic) {
        const res = await openDevice('mic', micSelect.value || prefs.micId);
        mic = res.track;
        micProblem.textContent = problemText(res.problem, 'mic');
        startMeter();
      }
    }
    if (mic) mic.enabled = micOn;
    paint();
  });
  camSelect.addEventListener('change', async () => {
    savePrefs({ cameraId: camSelect.value });
    prefs.cameraId = camSelect.value;
    if (!cameraOn) return;
    camera?.stop();
    const res = await openDevice('camera', camSelect.value);
    camera = res.track;
    camProblem.textContent = problemText(res.problem, 'camera');
    paint();
  });
  micSelect.addEventListener('change', async () => {
    savePrefs({ micId: micSelect.value });
    prefs.micId = micSelect.value;
    mic?.stop();
    const res = await openDevice('mic', micSelect.value);
    mic = res.track;
    if (mic) mic.enabled = micOn;
    micProblem.textContent = problemText(res.problem, 'mic');
    startMeter();
    paint();
  });

  const form = h('form', {
    class: 'card prejoin-form',
    novalidate: true,
    on: {
      submit: (/** @type {Event} */ e) => {
        e.preventDefault();
        if (joinPart?.hidden) return;
        const name = nameInput.value.trim();
        if (!name && app.config.require_display_name) {
          nameError.textContent = t('name_required');
          nameInput.setAttribute('aria-invalid', 'true');
          nameInput.focus();
          return;
        }
        if (!account?.user) savePrefs({ name });
        left = true;
        stopMeter();
        window.removeEventListener('kabine:leave', onLeave);
        video.srcObject = null;
        if (!cameraOn && camera) camera.stop();
        renderCall(app, room, {
          displayName: name,
          camera: cameraOn ? camera : null,
          mic,
          micOn: micOn && !!mic,
        });
      },
    },
  },
  accountBox,
  joinPart = h('div', { class: 'join-part' },
    h('label', { for: 'display-name', text: t('name_label') }),
    nameInput,
    nameHint,
    nameError,
    h('button', { type: 'submit', class: 'primary join', id: 'join-button', text: t('join') })));

  const onLeave = () => {
    left = true;
    stopMeter();
    camera?.stop();
    mic?.stop();
    window.removeEventListener('kabine:leave', onLeave);
  };
  window.addEventListener('kabine:leave', onLeave);

  showPage(app.root, t('prejoin_title_doc', { room, app: app.config.app_name }),
    h('section', { class: 'prejoin' },
      h('h1', { text: t('prejoin_title') }),
      h('p', { class: 'lead' }, t('prejoin_room'), ' ', h('strong', { class: 'room-name', text: room })),
      h('div', { class: 'prejoin-grid' },
        h('div', { class: 'preview' },
          h('div', { class: 'preview-frame' }, video, placeholder, meter),
          h('div', { class: 'preview-controls', role: 'group', 'aria-label': t('preview_controls') },
            micButton, camButton),
          micProblem,
          camProblem,
          h('div', { class: 'devices' },
            h('div', { class: 'field' }, h('label', { for: 'camera-select', text: t('camera') }), camSelect),
            h('div', { class: 'field' }, h('label', { for: 'mic-select', text: t('microphone') }), micSelect))),
        form)));
  paint();
  openMedia().catch((err) => console.warn('kabine: opening media failed', err));
  fetchSession().then((info) => {
    if (left) return;
    account = info;
    paintAccount();
  });
}
