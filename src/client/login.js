// @ts-check
// Logging in and out through the accounts API (docs/accounts.md): who is
// logged in, a login form, and what its errors mean for people. The
// session is an HttpOnly cookie: this code never sees it.

import { announce, h } from './dom.js';
import { t } from './i18n.js';

/**
 * @typedef {{username: string, display_name: string, may_host: boolean, account: 'local' | 'directory',
 *   can_change_password: boolean}} User
 * @typedef {{access_mode: 'open' | 'secure' | 'closed', user: User | null, idle_timeout_secs: number}} SessionInfo
 */

/** @returns {Promise<SessionInfo | null>} who is logged in; null when the server cannot say */
export async function fetchSession() {
  try {
    const r = await fetch('/api/session', { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) return null;
    return /** @type {SessionInfo} */ (await r.json());
  } catch {
    return null;
  }
}

/** Ends the login session on the server. */
export async function logout() {
  try {
    await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  } catch {
    // Offline: the cookie stays, and the server ends the session by itself later.
  }
}

/**
 * The text for a failed API answer (login or password change).
 * @param {Response} r
 * @param {any} body the JSON error body, if any
 */
export function apiProblem(r, body) {
  const minutes = (/** @type {number} */ secs) => Math.max(1, Math.ceil(secs / 60));
  if (r.status === 401 && body?.error === 'login_failed') return t('login_failed');
  if (r.status === 429) return t('login_throttled', { m: minutes(Number(body?.retry_after_secs) || 60) });
  if (r.status === 503) return body?.error === 'directory_unavailable' ? t('login_unavailable') : t('login_busy');
  return t('login_error');
}

/**
 * A login form. Calls `onLoggedIn` with the new session after a successful login.
 * @param {{id: string, onLoggedIn: (info: SessionInfo) => void}} opts `id`: prefix of element ids
 */
export function loginForm(opts) {
  const { id } = opts;
  const user = h('input', { id: `${id}-username`, type: 'text', autocomplete: 'username', autocapitalize: 'none',
    spellcheck: false, required: true, maxLength: 256, 'aria-describedby': `${id}-problem` });
  const password = h('input', { id: `${id}-password`, type: 'password', autocomplete: 'current-password', required: true,
    maxLength: 1024, 'aria-describedby': `${id}-problem` });
  const problem = h('p', { id: `${id}-problem`, class: 'field-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', id: `${id}-submit`, text: t('login_submit') });
  /** @param {string} text */
  const fail = (text) => {
    problem.textContent = text;
    for (const f of [user, password]) f.setAttribute('aria-invalid', text ? 'true' : 'false');
  };
  const form = h('form', { class: 'login-form', id, novalidate: true, on: { submit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!user.value.trim() || !password.value) {
      fail(t('login_missing'));
      (user.value.trim() ? password : user).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('login_working');
    fail('');
    try {
      const r = await fetch('/api/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.value.trim(), password: password.value }),
      });
      const body = await r.json().catch(() => null);
      password.value = '';
      if (r.ok && body) {
        announce(t('logged_in_as', { name: body.user?.display_name ?? '' }));
        opts.onLoggedIn(/** @type {SessionInfo} */ (body));
        return;
      }
      fail(apiProblem(r, body));
      password.focus();
    } catch {
      fail(t('login_error'));
    } finally {
      submit.disabled = false;
      submit.textContent = t('login_submit');
    }
  } } },
  h('label', { for: `${id}-username`, text: t('login_username') }), user,
  h('label', { for: `${id}-password`, text: t('login_password') }), password,
  problem, submit);
  return form;
}
