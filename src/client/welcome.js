// @ts-check
// The welcome page: type a meeting name or make a hard-to-guess one.

import { h, icon, showPage } from './dom.js';
import { t } from './i18n.js';
import { linkKeyToHash, newLinkKey } from './e2ee.js';

/** Paths of the server that are not rooms (as `RESERVED_NAMES` in src/lib.rs). */
const RESERVED = ['static', 'api', 'health', 'ws', 'account', 'favicon.ico', 'robots.txt', 't', 'sessions'];

/**
 * Room names as the server accepts them: 1–64 letters, digits, `-`, `_`,
 * `.` (not first), none of the server's own paths.
 * @param {string} name
 */
export function roomNameIsValid(name) {
  const len = [...name].length;
  return (
    len >= 1 &&
    len <= 64 &&
    !name.startsWith('.') &&
    /^[\p{Alphabetic}\p{N}_.-]+$/u.test(name) &&
    !RESERVED.includes(name.toLowerCase())
  );
}

/** Letters and digits that cannot be confused with each other. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/**
 * A meeting name nobody can guess: 16 random characters (about 79 bits) in
 * four groups, e.g. `k7pm-x2qd-9vhe-tz4a`.
 * @returns {string}
 */
export function randomRoomName() {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  let out = '';
  for (const b of bytes) {
    if (b >= 248) continue; // 248 = 8 × 31: keeps the choice uniform
    out += ALPHABET[b % ALPHABET.length];
    if (out.replace(/-/g, '').length === 16) break;
    if (out.replace(/-/g, '').length % 4 === 0) out += '-';
  }
  return out.length === 19 ? out : randomRoomName();
}

/**
 * @param {import('./app.js').App} app
 * @param {string} [badName] a room name from the address that is not valid
 */
export function renderWelcome(app, badName) {
  const input = h('input', {
    id: 'room-name',
    name: 'room',
    type: 'text',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: false,
    maxLength: 64,
    required: true,
    'aria-describedby': 'room-hint room-error',
    value: badName ?? '',
  });
  const error = h('p', { id: 'room-error', class: 'field-error', 'aria-live': 'assertive' });
  const showError = (/** @type {string} */ text) => {
    error.textContent = text;
    input.setAttribute('aria-invalid', text ? 'true' : 'false');
  };

  const form = h('form', {
    class: 'card welcome-form',
    novalidate: true,
    on: {
      submit: (/** @type {Event} */ e) => {
        e.preventDefault();
        const name = input.value.trim();
        if (!name) {
          showError(t('room_required'));
          input.focus();
        } else if (!roomNameIsValid(name)) {
          showError(t('room_invalid'));
          input.focus();
        } else {
          // A meeting started here gets its key for end-to-end encryption
          // in the link's fragment (docs/e2ee.md): whoever is sent this
          // link has it; the server never sees it.
          const key = app.config.e2ee === 'off' ? '' : linkKeyToHash(newLinkKey());
          app.navigate('/' + encodeURIComponent(name) + key);
        }
      },
    },
  },
  h('label', { for: 'room-name', text: t('room_label') }),
  h('div', { class: 'row' },
    input,
    h('button', {
      type: 'button',
      class: 'secondary',
      on: {
        click: () => {
          input.value = randomRoomName();
          showError('');
          input.focus();
        },
      },
    }, icon('dice'), h('span', { text: t('room_generate') }))),
  h('p', { id: 'room-hint', class: 'hint', text: t('room_hint') }),
  error,
  h('button', { type: 'submit', class: 'primary', text: t('continue') }));

  showPage(app.root, app.config.app_name,
    h('section', { class: 'welcome' },
      h('h1', { text: t('welcome_title') }),
      h('p', { class: 'lead', text: t('welcome_lead') }),
      form));
  if (badName) showError(t('room_invalid'));
}
