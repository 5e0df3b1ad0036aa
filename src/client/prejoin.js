// @ts-check
// The pre-join page: display name, camera and microphone preview and
// choice, joining with camera or microphone off, and one "Join" button.

import { announce, h, icon, showPage } from './dom.js';
import { problemText, t } from './i18n.js';
import { levelMeter, listDevices, loadPrefs, savePrefs } from './media.js';
import { LocalDevices } from './devices.js';
import { MAX_NAME_CHARS } from './protocol.js';
import { renderCall } from './call.js';
import { fetchSession, loginForm, logout } from './login.js';
import { detectSupport } from './e2ee-media.js';

/**
 * @param {import('./app.js').App} app
 * @param {string} room
 */
export function renderPrejoin(app, room) {
  const prefs = loadPrefs();
  // Camera and microphone start opening now; "Join" hands them to the call
  // whether or not they are open yet (the call publishes them once they are).
  const devices = new LocalDevices(prefs);
  /** @type {() => void} */ let stopMeter = () => {};
  /** @type {MediaStreamTrack | null} */ let metered = null;

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
    for (const [button, kind, icons] of /** @type {const} */ ([
      [camButton, 'camera', ['camera', 'cameraOff']], [micButton, 'mic', ['mic', 'micOff']]])) {
      const state = devices.state(kind);
      const on = state === 'on';
      button.setAttribute('aria-pressed', String(on));
      button.setAttribute('aria-busy', String(state === 'starting'));
      const text = state === 'starting' ? t(`${kind}_starting`) : t(on ? `${kind}_is_on` : `${kind}_is_off`);
      button.replaceChildren(icon(on || state === 'starting' ? icons[0] : icons[1]), h('span', { text }));
      button.classList.toggle('off', !on);
    }
    camProblem.textContent = problemText(devices.camera.problem, 'camera');
    micProblem.textContent = problemText(devices.mic.problem, 'mic');
    const camera = devices.published('camera');
    video.hidden = !camera;
    placeholder.hidden = !!camera;
    placeholder.textContent = devices.state('camera') === 'starting' ? t('camera_starting') : t('preview_off');
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

  async function fillDevices() {
    const { cameras, mics } = await listDevices();
    /**
     * @param {HTMLSelectElement} select
     * @param {MediaDeviceInfo[]} list
     * @param {MediaStreamTrack | null} track
     * @param {string} fallbackLabel
     */
    const fill = (select, list, track, fallbackLabel) => {
      const current = track?.getSettings().deviceId ?? '';
      select.replaceChildren(...list.map((d, i) =>
        h('option', { value: d.deviceId, text: d.label || `${fallbackLabel} ${i + 1}`, selected: d.deviceId === current })));
      select.disabled = list.length === 0;
      if (list.length === 0) select.append(h('option', { value: '', text: t('no_devices') }));
    };
    fill(camSelect, cameras, devices.camera.track, t('camera'));
    fill(micSelect, mics, devices.mic.track, t('microphone'));
  }

  devices.addEventListener('change', () => {
    paint();
    if (!devices.starting) fillDevices().catch(() => {});
  });
  /** Off (or failed: try again) -> on; on (or starting) -> off. @param {'camera' | 'mic'} kind */
  const toggle = (kind) => {
    const state = devices.state(kind);
    devices.set(kind, state === 'off' || state === 'failed').catch(() => {});
  };
  camButton.addEventListener('click', () => toggle('camera'));
  micButton.addEventListener('click', () => toggle('mic'));
  camSelect.addEventListener('change', () => {
    savePrefs({ cameraId: camSelect.value });
    devices.choose('camera', camSelect.value).catch(() => {});
  });
  micSelect.addEventListener('change', () => {
    savePrefs({ micId: micSelect.value });
    devices.choose('mic', micSelect.value).catch(() => {});
  });

  const joinButton = h('button', { type: 'submit', class: 'primary join', id: 'join-button', text: t('join') });
  // Who is logged in is asked for when the page opens. "Join" pressed before
  // the answer waits for it: a logged-in person's name comes from the account.
  let accountKnown = false;
  let waitingForAccount = false;
  const accountReady = fetchSession().then((info) => {
    accountKnown = true;
    if (devices.disposed) return;
    account = info;
    paintAccount();
  });

  const form = h('form', {
    class: 'card prejoin-form',
    novalidate: true,
    on: {
      submit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        if (waitingForAccount) return;
        if (!accountKnown) {
          waitingForAccount = true;
          joinButton.setAttribute('aria-busy', 'true');
          await accountReady;
          waitingForAccount = false;
          joinButton.removeAttribute('aria-busy');
          if (devices.disposed) return;
        }
        if (joinPart?.hidden) return;
        const name = nameInput.value.trim();
        if (!name && app.config.require_display_name) {
          nameError.textContent = t('name_required');
          nameInput.setAttribute('aria-invalid', 'true');
          nameInput.focus();
          return;
        }
        if (!account?.user) savePrefs({ name });
        stopMeter();
        window.removeEventListener('kabine:leave', onLeave);
        video.srcObject = null;
        // The devices go with the person into the call, open or not yet.
        renderCall(app, room, { displayName: name, devices });
      },
    },
  },
  accountBox,
  joinPart = h('div', { class: 'join-part' },
    h('label', { for: 'display-name', text: t('name_label') }),
    nameInput,
    nameHint,
    nameError,
    joinButton));

  const onLeave = () => {
    stopMeter();
    devices.dispose();
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
  // End-to-end encrypted meetings need encoded transforms and X25519: a
  // browser without them is told so here, before it joins (docs/e2ee.md).
  detectSupport().then((ok) => {
    if (ok || app.config.e2ee !== 'required' || devices.disposed) return;
    const join = /** @type {HTMLButtonElement | null} */ (form.querySelector('#join-button'));
    if (join) join.disabled = true;
    form.prepend(h('div', { class: 'problem', role: 'alert', id: 'e2ee-unsupported' },
      h('strong', { text: t('e2ee_unsupported_title') }), ' ', t('e2ee_unsupported_text')));
  });
  devices.start().catch((err) => console.warn('kabine: opening media failed', err));
}
