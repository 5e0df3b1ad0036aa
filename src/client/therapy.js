// @ts-check
// A teletherapy session in the call (docs/teletherapy.md): the session
// timer and "End session" for the therapist, the one-line prompt to
// introduce everyone in the room, the screen-share permission dialogs
// (a patient asks the therapist, the therapist asks the patients), the
// therapist's short message to someone waiting, and the patient's waiting
// page (calm: no sound ever, changes told through a live region).

import { announce, h } from './dom.js';
import { t } from './i18n.js';
import { deviceCheck } from './patient.js';

/**
 * @typedef {object} TherapyContext
 * @property {import('./protocol.js').Session} session
 * @property {(text: string) => void} toast
 * @property {() => void} startScreen starts sharing the screen (a click of the person)
 * @property {() => void} ended the therapist ended the session (go to /sessions)
 */

/** "1:05:09" or "5:09". @param {number} secs */
export function elapsedText(secs) {
  const s = Math.max(0, Math.floor(secs));
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}:${p(minutes)}:${p(s % 60)}` : `${minutes}:${p(s % 60)}`;
}

/**
 * A modal dialog (Escape closes it unless `keep`; focus returns to the opener).
 * @param {string} id
 * @param {(HTMLElement | null)[]} body
 */
function dialog(id, body) {
  const heading = h('h2', { id: `${id}-title` });
  const d = h('dialog', { class: 'help mod-dialog', id, 'aria-labelledby': `${id}-title` }, heading, body);
  /** @type {HTMLElement | null} */ let opener = null;
  d.addEventListener('close', () => {
    if (opener?.isConnected) opener.focus();
  });
  return {
    el: d,
    heading,
    open() {
      opener = /** @type {HTMLElement | null} */ (document.activeElement);
      if (!d.open) d.showModal();
    },
    close() {
      if (d.open) d.close();
    },
  };
}

/** @param {TherapyContext} ctx */
export function createTherapy(ctx) {
  const { session } = ctx;
  const therapist = () => session.appointment?.role === 'therapist';

  // ---- the session timer ------------------------------------------------------
  const timerValue = h('span', { class: 'timer-value', id: 'session-timer-value' });
  const timer = h('p', { class: 'session-timer', id: 'session-timer', hidden: true, role: 'timer',
    'aria-label': t('therapy_timer') }, timerValue);
  /** When the therapist opened the session, on our clock (ms). */
  let startedAt = 0;
  const tick = () => {
    if (!startedAt) return;
    timerValue.textContent = t('therapy_timer_value', { time: elapsedText((Date.now() - startedAt) / 1000) });
  };
  const timerInterval = setInterval(tick, 1000);

  // ---- ending the session -------------------------------------------------------
  const endDialog = dialog('session-end-dialog', [
    h('p', { id: 'session-end-text', text: t('therapy_end_text') }),
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', class: 'primary danger', id: 'session-end-confirm', text: t('therapy_end_confirm'),
        on: { click: () => {
          endDialog.close();
          session.moderate({ type: 'end_meeting' });
          ctx.ended();
        } } }),
      h('button', { type: 'button', class: 'secondary', id: 'session-end-cancel', text: t('cancel'),
        on: { click: () => endDialog.close() } }))]);
  endDialog.heading.textContent = t('therapy_end_title');
  endDialog.el.setAttribute('aria-describedby', 'session-end-text');
  const endButton = h('button', { type: 'button', class: 'secondary small danger-outline', id: 'session-end', hidden: true,
    text: t('therapy_end'), on: { click: () => {
      endDialog.open();
      document.getElementById('session-end-cancel')?.focus();
    } } });

  // ---- "please introduce everyone" ----------------------------------------------
  const intro = h('div', { class: 'intro-prompt', id: 'intro-prompt', role: 'status', hidden: true },
    h('span', { text: t('therapy_intro') }),
    h('button', { type: 'button', class: 'secondary small', id: 'intro-dismiss', text: t('therapy_intro_dismiss'),
      on: { click: () => {
        intro.hidden = true;
        document.getElementById('ctl-mic')?.focus();
      } } }));
  let introShown = false;

  // ---- screen sharing only with permission --------------------------------------
  /** @type {string | null} */ let askingId = null;
  const askText = h('p', { id: 'screen-request-text' });
  const askDialog = dialog('screen-request-dialog', [askText,
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', class: 'primary', id: 'screen-allow', text: t('screen_allow'),
        on: { click: () => answer(true) } }),
      h('button', { type: 'button', class: 'secondary', id: 'screen-refuse', text: t('screen_refuse'),
        on: { click: () => answer(false) } }))]);
  askDialog.heading.textContent = t('screen_request_title');
  askDialog.el.setAttribute('aria-describedby', 'screen-request-text');
  // Escape is "do not allow", never no answer.
  askDialog.el.addEventListener('cancel', (e) => {
    e.preventDefault();
    answer(false);
  });
  /** @param {boolean} allow */
  function answer(allow) {
    if (askingId) session.answerScreen(askingId, allow);
    askingId = null;
    askDialog.close();
  }
  const allowedText = h('p', { id: 'screen-allowed-text' });
  const allowedDialog = dialog('screen-allowed-dialog', [allowedText,
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', class: 'primary', id: 'screen-share-now', text: t('screen_share_now'),
        on: { click: () => {
          allowedDialog.close();
          ctx.startScreen();
        } } }),
      h('button', { type: 'button', class: 'secondary', id: 'screen-share-later', text: t('cancel'),
        on: { click: () => {
          session.screenAllowed = false;
          allowedDialog.close();
        } } }))]);
  allowedDialog.heading.textContent = t('screen_allowed_title');
  allowedDialog.el.setAttribute('aria-describedby', 'screen-allowed-text');

  session.on('screenrequest', ({ id, name }) => {
    askingId = id;
    askText.textContent = t('screen_request_text', { name: name || t('anonymous') });
    askDialog.open();
    document.getElementById('screen-refuse')?.focus();
  });
  session.on('screenanswer', ({ allow, byName }) => {
    const name = byName || t('anonymous');
    if (allow) {
      allowedText.textContent = t('screen_allowed_text', { name });
      allowedDialog.open();
      document.getElementById('screen-share-now')?.focus();
    } else {
      const text = t('screen_refused', { name });
      announce(text);
      ctx.toast(text);
    }
  });

  // ---- a message to someone waiting -------------------------------------------
  /** @type {import('./protocol.js').Person | null} */ let messageTo = null;
  const own = h('textarea', { id: 'lobby-message-text', rows: 2, maxLength: 200 });
  const messageProblem = h('p', { class: 'field-error', id: 'lobby-message-problem', role: 'alert' });
  /** @param {string} text */
  const send = (text) => {
    const clean = text.trim();
    if (!messageTo || !clean) {
      messageProblem.textContent = clean ? '' : t('therapy_message_own');
      own.focus();
      return;
    }
    session.moderate({ type: 'lobby_message', id: messageTo.id, text: clean.slice(0, 200) });
    announce(t('therapy_message_sent', { name: messageTo.display_name || t('anonymous') }));
    own.value = '';
    messageDialog.close();
  };
  const messageDialog = dialog('lobby-message-dialog', [
    h('div', { class: 'quick-messages', role: 'group', 'aria-label': t('therapy_message') },
      h('button', { type: 'button', class: 'secondary', id: 'lobby-message-5', text: t('therapy_message_5'),
        on: { click: () => send(t('therapy_message_5')) } }),
      h('button', { type: 'button', class: 'secondary', id: 'lobby-message-few', text: t('therapy_message_few'),
        on: { click: () => send(t('therapy_message_few')) } })),
    h('form', { class: 'lobby-message-form', novalidate: true, on: { submit: (/** @type {Event} */ e) => {
      e.preventDefault();
      send(own.value);
    } } },
    h('label', { for: 'lobby-message-text', text: t('therapy_message_own') }), own, messageProblem,
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'submit', class: 'primary', id: 'lobby-message-send', text: t('therapy_message_send') }),
      h('button', { type: 'button', class: 'secondary', id: 'lobby-message-cancel', text: t('cancel'),
        on: { click: () => messageDialog.close() } })))]);

  /** @param {import('./protocol.js').Person} person */
  function openMessage(person) {
    messageTo = person;
    messageProblem.textContent = '';
    messageDialog.heading.textContent = t('therapy_message_title', { name: person.display_name || t('anonymous') });
    messageDialog.open();
    document.getElementById('lobby-message-5')?.focus();
  }

  // ---- following the session ---------------------------------------------------
  function paint() {
    const a = session.appointment;
    const joined = session.state === 'joined' && !!a;
    endButton.hidden = !joined || !therapist();
    if (a?.started_at) {
      // The server's start, on our clock: elapsed = now - (server now - started).
      startedAt = Date.now() - Math.max(0, Date.now() / 1000 - a.started_at) * 1000;
    } else if (joined && therapist() && !startedAt) {
      startedAt = Date.now();
    }
    // The therapist's tool: patients are not shown a running clock.
    timer.hidden = !joined || !startedAt || !therapist();
    tick();
  }
  session.on('welcome', () => {
    paint();
    if (session.appointment && !introShown) {
      introShown = true;
      intro.hidden = false;
    }
  });
  session.on('state', paint);

  function dispose() {
    clearInterval(timerInterval);
    for (const d of [endDialog, askDialog, allowedDialog, messageDialog]) d.close();
  }

  return {
    timer,
    endButton,
    intro,
    dialogs: [endDialog.el, askDialog.el, allowedDialog.el, messageDialog.el],
    openMessage,
    dispose,
  };
}

/**
 * The patient's waiting page additions: the appointment time, the
 * therapist's messages (a live region: read out, never a sound), and the
 * device check, still usable while waiting.
 * @param {{session: import('./protocol.js').Session, devices: import('./devices.js').LocalDevices, when: string}} ctx
 */
export function createWaitingExtras(ctx) {
  const messages = h('div', { class: 'waiting-messages', id: 'waiting-messages', role: 'status', 'aria-live': 'polite',
    hidden: true });
  /** @type {{el: HTMLElement, dispose: () => void} | null} */ let check = null;
  const checkBox = h('details', { class: 'waiting-check', id: 'waiting-check' },
    h('summary', { text: t('wait_device_check') }));
  checkBox.addEventListener('toggle', () => {
    if (checkBox.open && !check) {
      check = deviceCheck(ctx.devices, 'wait');
      checkBox.append(check.el);
    }
  });
  const el = h('div', { class: 'waiting-extras' },
    h('p', { class: 'when', id: 'waiting-when', text: ctx.when }),
    messages, checkBox);
  ctx.session.on('waitingmessage', ({ text, fromName }) => {
    messages.hidden = false;
    messages.replaceChildren(h('h3', { text: t('wait_message_heading') }),
      h('p', { class: 'waiting-message', text: t('wait_message', { name: fromName || t('anonymous'), text }) }));
  });
  return {
    el,
    dispose() {
      check?.dispose();
    },
  };
}
