// @ts-check
// The call's toolbar and keyboard: microphone, camera (on, off, starting),
// screen share, hand, chat, participants, view, help and leave buttons,
// each with a fixed accessible name, a visible state and a shortcut; push
// to talk; the shortcuts dialog; the notices about our own media (devices
// still opening, media that does not reach the server).

import { announce, h, icon, isTyping } from './dom.js';
import { problemText, t } from './i18n.js';

/**
 * @typedef {object} ControlsContext
 * @property {import('./protocol.js').Session} session
 * @property {import('./devices.js').LocalDevices} devices
 * @property {() => {chat: boolean, people: boolean, unread: number}} panels which side panel is open
 * @property {(panel: 'chat' | 'people') => void} togglePanel
 * @property {() => 'tiles' | 'speaker'} view
 * @property {() => void} toggleView
 * @property {() => void} leave
 * @property {(text: string) => void} toast
 * @property {() => void} changed our own media changed (tiles and list repaint)
 */

/** @param {ControlsContext} ctx */
export function createControls(ctx) {
  const { session, devices } = ctx;
  /** @type {MediaStreamTrack | null} */ let screen = null;
  let pushToTalk = false;

  /**
   * A toolbar button with a fixed accessible name, a visible state and a shortcut.
   * @param {string} id
   * @param {string} label
   * @param {string} key
   * @param {() => void} action
   */
  function control(id, label, key, action) {
    return h('button', { type: 'button', class: 'control', id, 'aria-keyshortcuts': key || null,
      title: key ? `${label} (${key === 'Space' ? t('key_space') : key})` : label, on: { click: action } });
  }
  const micButton = control('ctl-mic', t('microphone'), 'M', () => toggleDevice('mic'));
  const camButton = control('ctl-camera', t('camera'), 'V', () => toggleDevice('camera'));
  const screenButton = control('ctl-screen', t('share_screen'), 'D', () => toggleScreen());
  const handButton = control('ctl-hand', t('raise_hand'), 'R', () => toggleHand());
  const chatButton = control('ctl-chat', t('chat'), 'C', () => ctx.togglePanel('chat'));
  const peopleButton = control('ctl-people', t('participants'), '', () => ctx.togglePanel('people'));
  const viewButton = control('ctl-view', t('speaker_view'), 'T', () => ctx.toggleView());
  const helpButton = control('ctl-help', t('shortcuts_short'), '?', () => openHelp());
  const leaveButton = h('button', { type: 'button', class: 'control leave', id: 'ctl-leave', on: { click: () => ctx.leave() } },
    icon('leave'), h('span', { class: 'label', text: t('leave') }));
  const toolbar = h('div', { class: 'toolbar', role: 'group', 'aria-label': t('controls') },
    h('div', { class: 'toolbar-group' }, micButton, camButton, screenButton),
    h('div', { class: 'toolbar-group' }, handButton, chatButton, peopleButton, viewButton, helpButton),
    h('div', { class: 'toolbar-group' }, leaveButton));

  // What we publish does not reach the server (health.js): said until it does.
  const mediaProblemText = h('span', { id: 'media-problem-text' });
  const mediaProblem = h('div', { class: 'media-problem', id: 'media-problem', role: 'alert', hidden: true },
    mediaProblemText,
    h('button', { type: 'button', class: 'secondary small', id: 'media-retry', text: t('media_retry'),
      on: { click: () => session.retryMedia() } }));
  // While camera or microphone are still opening after "Join".
  const deviceNote = h('p', { class: 'device-note', role: 'status', id: 'device-note', hidden: true,
    text: t('devices_starting') });
  const helpDialog = buildHelp();

  /**
   * @param {HTMLButtonElement} b
   * @param {keyof typeof import('./dom.js').ICONS} ic
   * @param {string} label
   * @param {string} state visible state text (not part of the accessible name)
   * @param {boolean | null} pressed
   * @param {boolean} warn
   */
  function setControl(b, ic, label, state, pressed, warn) {
    b.replaceChildren(icon(ic), h('span', { class: 'label', text: label }));
    if (state) b.append(h('span', { class: 'state', 'aria-hidden': 'true', text: state }));
    if (pressed !== null) b.setAttribute('aria-pressed', String(pressed));
    b.classList.toggle('off', warn);
  }

  function paint() {
    for (const [button, kind, label, icons] of /** @type {const} */ ([
      [micButton, 'mic', t('microphone'), ['mic', 'micOff']], [camButton, 'camera', t('camera'), ['camera', 'cameraOff']]])) {
      const state = devices.state(kind);
      const on = state === 'on';
      const starting = state === 'starting';
      const text = starting ? t('state_starting') : on ? t('state_on') : t('state_off');
      setControl(button, on || starting ? icons[0] : icons[1], label, text, on || starting, !on && !starting);
      button.setAttribute('aria-busy', String(starting));
      button.classList.toggle('starting', starting);
      button.title = `${label} (${kind === 'mic' ? 'M' : 'V'})${devices[kind].problem ? ` – ${problemText(devices[kind].problem, kind)}` : ''}`;
    }
    deviceNote.hidden = !devices.starting;
    const panels = ctx.panels();
    setControl(screenButton, 'screen', t('share_screen'), screen ? t('state_sharing') : '', !!screen, false);
    setControl(handButton, 'hand', t('raise_hand'), session.handRaised ? t('state_raised') : '', session.handRaised, false);
    setControl(chatButton, 'chat', t('chat'), panels.unread ? String(panels.unread) : '', panels.chat, false);
    if (panels.unread) chatButton.setAttribute('aria-description', t('unread', { n: panels.unread }));
    else chatButton.removeAttribute('aria-description');
    setControl(peopleButton, 'people', t('participants'), String(session.participants.size + 1), panels.people, false);
    const speaker = ctx.view() === 'speaker';
    setControl(viewButton, speaker ? 'grid' : 'speaker', t('speaker_view'), '', speaker, false);
    setControl(helpButton, 'help', t('shortcuts_short'), '', null, false);
  }

  /**
   * Turns the microphone or camera on (opening it when needed; a failed one
   * is tried again) or off. What happens is announced once it happened.
   * @param {'mic' | 'camera'} kind
   */
  async function toggleDevice(kind) {
    const state = devices.state(kind);
    await devices.set(kind, state === 'off' || state === 'failed');
    const now = devices.state(kind);
    if (now === 'on') announce(t(`${kind}_is_on`));
    else if (now === 'off') announce(t(`${kind}_is_off`));
    else if (now === 'starting') announce(t(`${kind}_starting`));
  }

  async function toggleScreen() {
    if (screen) {
      stopScreen();
      return;
    }
    if (!navigator.mediaDevices?.getDisplayMedia) {
      ctx.toast(t('screen_unsupported'));
      return;
    }
    // A therapy session: sharing needs the other side's permission first
    // (therapy.js shows the answer and a button to share then).
    if (session.appointment && !session.screenAllowed) {
      session.requestScreen();
      ctx.toast(t('screen_asked'));
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
      const track = stream.getVideoTracks()[0];
      if (!track) return;
      track.contentHint = 'detail';
      track.addEventListener('ended', () => {
        if (screen === track) stopScreen();
      });
      screen = track;
      await session.setScreenTrack(track);
      announce(t('screen_started'));
    } catch (err) {
      const name = err instanceof Error || err instanceof DOMException ? err.name : '';
      if (name !== 'NotAllowedError' && name !== 'AbortError') ctx.toast(t('screen_failed'));
    }
    paint();
    ctx.changed();
  }

  function stopScreen() {
    screen?.stop();
    screen = null;
    // A permission to share lasts until the share ends.
    session.screenAllowed = false;
    session.setScreenTrack(null).catch(() => {});
    announce(t('screen_stopped'));
    paint();
    ctx.changed();
  }

  function toggleHand() {
    session.setHand(!session.handRaised);
    announce(session.handRaised ? t('hand_you_raised') : t('hand_you_lowered'));
    paint();
    ctx.changed();
  }

  // ---- help ------------------------------------------------------------
  function buildHelp() {
    const rows = /** @type {[string, string][]} */ ([
      ['M', t('help_mic')], ['V', t('help_camera')], ['D', t('help_screen')], ['C', t('help_chat')],
      ['R', t('help_hand')], ['T', t('help_view')], [t('key_space'), t('help_ptt')], ['?', t('help_help')],
    ]);
    const dialog = h('dialog', { class: 'help', id: 'help-dialog', 'aria-labelledby': 'help-title' },
      h('h2', { id: 'help-title', text: t('shortcuts') }),
      h('p', { text: t('help_intro') }),
      h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('key') }), h('th', { scope: 'col', text: t('action') }))),
        h('tbody', {}, rows.map(([k, a]) => h('tr', {}, h('td', {}, h('kbd', { text: k })), h('td', { text: a }))))),
      h('form', { method: 'dialog' }, h('button', { class: 'primary', text: t('close') })));
    dialog.addEventListener('close', () => helpButton.focus());
    return dialog;
  }
  function openHelp() {
    if (!helpDialog.open) helpDialog.showModal();
  }

  // ---- keyboard --------------------------------------------------------
  /** @param {KeyboardEvent} e */
  function onKeyDown(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target) || document.querySelector('dialog[open], [role="menu"]')) {
      return;
    }
    if (e.key === ' ' || e.code === 'Space') {
      const target = /** @type {HTMLElement | null} */ (e.target instanceof HTMLElement ? e.target : null);
      if (target && target.closest('button, a, select, summary, [role="button"]')) return;
      e.preventDefault();
      if (!e.repeat && devices.mic.track && !devices.mic.want) {
        pushToTalk = true;
        devices.set('mic', true).catch(() => {});
      }
      return;
    }
    if (e.repeat) return;
    /** @type {Record<string, () => void>} */
    const actions = {
      m: () => toggleDevice('mic'),
      v: () => toggleDevice('camera'),
      d: () => toggleScreen(),
      c: () => ctx.togglePanel('chat'),
      r: () => toggleHand(),
      t: () => ctx.toggleView(),
      '?': () => openHelp(),
    };
    const action = actions[e.key.toLowerCase()];
    if (action) {
      e.preventDefault();
      action();
    }
  }
  /** @param {KeyboardEvent} e */
  function onKeyUp(e) {
    if ((e.key === ' ' || e.code === 'Space') && pushToTalk) {
      pushToTalk = false;
      devices.set('mic', false).catch(() => {});
    }
  }
  document.addEventListener('keydown', onKeyDown);
  document.addEventListener('keyup', onKeyUp);

  return {
    toolbar,
    deviceNote,
    mediaProblem,
    helpDialog,
    paint,
    stopScreen,
    /** Starts sharing the screen (after a permission: a click of the person, as browsers require). */
    startScreen: () => {
      if (!screen) toggleScreen();
    },
    /** Our own screen share, if any. */
    get screen() {
      return screen;
    },
    /** @param {'chat' | 'people'} panel puts focus back on the button of a closed panel */
    focusButton(panel) {
      (panel === 'chat' ? chatButton : peopleButton).focus();
    },
    /** Focus after the call appears (it was behind a waiting page). */
    focusFirst() {
      micButton.focus();
    },
    /**
     * What we publish does not reach the server (`problem`), or does again (null).
     * @param {import('./health.js').Problem | null} problem
     */
    showMediaProblem(problem) {
      if (problem) {
        mediaProblemText.textContent = t(`media_problem_${problem}`);
        mediaProblem.hidden = false;
      } else if (!mediaProblem.hidden) {
        mediaProblem.hidden = true;
        announce(t('media_fixed'));
      }
    },
    /** Stops listening to the keyboard and ends a screen share (the call is over). */
    dispose() {
      document.removeEventListener('keydown', onKeyDown);
      document.removeEventListener('keyup', onKeyUp);
      screen?.stop();
      screen = null;
    },
  };
}
