// @ts-check
// The account page (`/account`): change the password of a local account.
// Directory accounts change theirs in the directory; the page says so.

import { announce, h, showPage } from './dom.js';
import { t } from './i18n.js';
import { apiProblem, fetchSession, loginForm, logout } from './login.js';

/** The password rules of the server (docs/accounts.md). */
const MIN_CHARS = 8;
const RECOMMENDED_CHARS = 15;

/** @param {import('./app.js').App} app */
export async function renderAccount(app) {
  const title = `${t('account_title')} – ${app.config.app_name}`;
  const body = h('div', { class: 'account-body' });
  showPage(app.root, title, h('section', { class: 'account card' }, h('h1', { text: t('account_title') }), body,
    h('p', {}, h('a', { href: '/', on: { click: (/** @type {Event} */ e) => {
      e.preventDefault();
      app.navigate('/');
    } }, text: t('to_start_page') }))));
  paint(await fetchSession());

  /** @param {import('./login.js').SessionInfo | null} info */
  function paint(info) {
    const user = info?.user;
    if (!user) {
      body.replaceChildren(h('p', { text: t('account_login_first') }),
        h('h2', { text: t('login_title') }),
        loginForm({ id: 'account-login', onLoggedIn: (next) => {
          paint(next);
          document.getElementById('current-password')?.focus();
        } }));
      return;
    }
    const who = h('p', { class: 'who' }, t('logged_in_as', { name: user.display_name }), ' ',
      h('button', { type: 'button', class: 'secondary small', id: 'account-logout', text: t('logout'),
        on: { click: async () => {
          await logout();
          announce(t('logged_out'));
          paint(await fetchSession());
        } } }));
    if (!user.can_change_password) {
      body.replaceChildren(who, h('p', { class: 'notice', id: 'not-local', text: t('not_local_account') }));
      return;
    }
    body.replaceChildren(who, changeForm(user));
  }

  /** @param {import('./login.js').User} user */
  function changeForm(user) {
    /**
     * @param {string} id
     * @param {string} autocomplete
     */
    const field = (id, autocomplete) => h('input', { id, type: 'password', autocomplete, required: true, maxLength: 1024,
      'aria-describedby': `${id}-error` });
    const current = field('current-password', 'current-password');
    const fresh = field('new-password', 'new-password');
    const again = field('repeat-password', 'new-password');
    fresh.setAttribute('aria-describedby', 'new-password-hint new-password-error');
    /** @param {string} id */
    const err = (id) => h('p', { id: `${id}-error`, class: 'field-error', role: 'alert' });
    const errors = { current: err('current-password'), fresh: err('new-password'), again: err('repeat-password') };
    const done = h('p', { class: 'success', id: 'password-done', role: 'status' });
    const general = h('p', { class: 'field-error', id: 'password-problem', role: 'alert' });
    /**
     * @param {'current' | 'fresh' | 'again' | null} which
     * @param {string} text
     */
    function problem(which, text) {
      for (const [k, el] of Object.entries(errors)) {
        el.textContent = k === which ? text : '';
        const input = { current, fresh, again }[/** @type {'current' | 'fresh' | 'again'} */ (k)];
        input.setAttribute('aria-invalid', k === which && text ? 'true' : 'false');
      }
      general.textContent = which === null ? text : '';
      if (which) ({ current, fresh, again })[which].focus();
    }
    const submit = h('button', { type: 'submit', class: 'primary', id: 'change-password', text: t('change_submit') });
    return h('form', { class: 'password-form', novalidate: true, on: { submit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      done.textContent = '';
      if (!current.value) return problem('current', t('password_missing'));
      if ([...fresh.value].length < MIN_CHARS) return problem('fresh', t('weak_too_short', { min: MIN_CHARS }));
      if (fresh.value !== again.value) return problem('again', t('passwords_differ'));
      problem(null, '');
      submit.disabled = true;
      try {
        const r = await fetch('/api/password', {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ current: current.value, new: fresh.value }),
        });
        const body = await r.json().catch(() => null);
        if (r.ok) {
          for (const f of [current, fresh, again]) f.value = '';
          done.textContent = t('password_changed');
          return;
        }
        const code = body?.error;
        if (code === 'wrong_password') problem('current', t('wrong_current'));
        else if (code === 'weak_password') {
          const reason = ['too_short', 'too_long', 'common', 'trivial'].includes(body?.reason) ? body.reason : 'trivial';
          problem('fresh', t(/** @type {any} */ (`weak_${reason}`), { min: body?.min_chars ?? MIN_CHARS }));
        } else if (code === 'not_local_account') problem(null, t('not_local_account'));
        else if (code === 'conflict') problem(null, t('account_conflict'));
        else if (code === 'not_logged_in') paint(await fetchSession());
        else problem(null, apiProblem(r, body));
      } catch {
        problem(null, t('login_error'));
      } finally {
        submit.disabled = false;
      }
    } } },
    h('h2', { text: t('account_change_title') }),
    // For password managers: which account this is.
    h('input', { type: 'text', autocomplete: 'username', value: user.username, hidden: true, readOnly: true,
      'aria-hidden': 'true', tabIndex: -1 }),
    h('label', { for: 'current-password', text: t('current_password') }), current, errors.current,
    h('label', { for: 'new-password', text: t('new_password') }), fresh,
    h('p', { id: 'new-password-hint', class: 'hint', text: t('password_hint', { min: MIN_CHARS, rec: RECOMMENDED_CHARS }) }),
    errors.fresh,
    h('label', { for: 'repeat-password', text: t('repeat_password') }), again, errors.again,
    general, submit, done);
  }
}
