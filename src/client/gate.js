// @ts-check
// What someone sees before the call proper: waiting for the host, waiting
// in the lobby, or the room password. The connection is open all along;
// the call appears by itself on `welcome`, without a reload.

import { announce, h } from './dom.js';
import { t } from './i18n.js';

/**
 * @typedef {import('./protocol.js').SessionEvents['waiting']} WaitDetail
 */

/**
 * @param {{session: import('./protocol.js').Session, onLeave: () => void, appointment?: HTMLElement | null}} ctx
 *   `appointment`: a patient's waiting page additions (therapy.js): a calm page, no spinner
 */
export function createGate(ctx) {
  const heading = h('h2', { id: 'gate-title', tabIndex: -1 });
  const text = h('p', { id: 'gate-text' });
  const spinner = h('div', { class: 'gate-spinner', 'aria-hidden': 'true' });
  const input = h('input', {
    id: 'room-password',
    type: 'password',
    autocomplete: 'off',
    maxLength: 128,
    'aria-describedby': 'gate-text password-error',
  });
  const problem = h('p', { id: 'password-error', class: 'field-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'password-submit', text: t('password_submit') });
  const form = h('form', { class: 'gate-password', novalidate: true, hidden: true, on: { submit: onSubmit } },
    h('label', { for: 'room-password', text: t('password_label') }), input, problem, submit);
  const leave = h('button', { type: 'button', class: 'secondary', id: 'gate-leave', text: t('gate_leave'),
    on: { click: () => ctx.onLeave() } });
  const extras = ctx.appointment ?? null;
  const el = h('section', { class: `gate card${extras ? ' waiting-room' : ''}`, id: 'gate', hidden: true,
    'aria-labelledby': 'gate-title' }, spinner, heading, text, form, extras, h('div', { class: 'row' }, leave));

  /** @type {string | null} */ let shown = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ let unlock;

  /** @param {Event} e */
  function onSubmit(e) {
    e.preventDefault();
    const value = input.value;
    if (!value) {
      setProblem(t('password_missing'));
      input.focus();
      return;
    }
    setProblem('');
    ctx.session.sendPassword(value);
    // Nothing of it stays in the page.
    input.value = '';
    submit.disabled = true;
  }

  /** @param {string} message */
  function setProblem(message) {
    problem.textContent = message;
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  /** @param {WaitDetail} detail */
  function show(detail) {
    const kind = detail.reason;
    el.hidden = false;
    const fresh = shown !== kind;
    const first = shown === null;
    shown = kind;
    spinner.hidden = kind === 'password' || !!extras;
    form.hidden = kind !== 'password';
    if (extras) extras.hidden = kind === 'password';
    if (extras && kind !== 'password') {
      // A patient's waiting room: the same calm page before and after the
      // therapist opened the session, told once.
      heading.textContent = t('wait_title');
      text.textContent = t('wait_text');
      if (first) {
        announce(t('wait_title'));
        heading.focus({ preventScroll: true });
      }
      return;
    } else if (kind === 'host') {
      heading.textContent = t('waiting_host_title');
      text.textContent = t('waiting_host_text');
      if (fresh) announce(t('waiting_announce_host'));
    } else if (kind === 'lobby') {
      heading.textContent = t('waiting_lobby_title');
      text.textContent = t('waiting_lobby_text');
      if (fresh) announce(t('waiting_announce_lobby'));
    } else {
      heading.textContent = t('password_title');
      text.textContent = t('password_text');
      clearTimeout(unlock);
      submit.disabled = false;
      const wait = detail.retryAfterSecs ?? 0;
      if (wait > 0) {
        setProblem(t('password_wait', { m: Math.max(1, Math.ceil(wait / 60)) }));
        submit.disabled = true;
        unlock = setTimeout(() => {
          submit.disabled = false;
        }, wait * 1000);
      } else {
        setProblem(detail.wrong ? t('password_wrong') : '');
      }
      if (fresh || detail.wrong) {
        input.focus();
        return;
      }
    }
    if (fresh) heading.focus({ preventScroll: true });
  }

  function hide() {
    el.hidden = true;
    shown = null;
    clearTimeout(unlock);
    input.value = '';
  }

  return { el, show, hide };
}
