// @ts-check
// Entry point: reads the operator's settings, picks the language, and shows
// the page for the address: the welcome page on `/`, the pre-join page and
// then the call on `/<room>`.

import { h, showPage } from './dom.js';
import { chooseLanguage, setLanguage, t } from './i18n.js';
import { renderWelcome, roomNameIsValid } from './welcome.js';
import { renderPrejoin } from './prejoin.js';
import { renderAccount } from './account.js';
import { renderSessions } from './sessions.js';
import { renderPatient } from './patient.js';

/**
 * What `/api/client-config` tells the client.
 * @typedef {object} ClientConfig
 * @property {string} app_name
 * @property {'de' | 'en'} default_language
 * @property {boolean} require_display_name
 * @property {string | null} imprint_url
 * @property {string | null} privacy_url
 * @property {boolean} has_logo
 * @property {boolean} direct_calls two participants may be connected directly
 * @property {'off' | 'optional' | 'required'} e2ee end-to-end encryption of meetings (docs/e2ee.md)
 * @property {RecordingConfig} recording whether hosts may record, and the practice's consent text
 */

/**
 * @typedef {object} RecordingConfig
 * @property {boolean} enabled
 * @property {boolean} require_consent
 * @property {'exclude' | 'cancel'} on_decline
 * @property {string | null} consent_text_de
 * @property {string | null} consent_text_en
 */

/** @type {ClientConfig} */
const DEFAULTS = {
  app_name: 'Kabine',
  default_language: 'en',
  require_display_name: true,
  imprint_url: null,
  privacy_url: null,
  has_logo: false,
  direct_calls: false,
  recording: { enabled: false, require_consent: true, on_decline: 'exclude', consent_text_de: null, consent_text_en: null },
  e2ee: 'optional',
};

/**
 * Shared by the pages: settings and the page root.
 * @typedef {{config: ClientConfig, root: HTMLElement, navigate: (path: string) => void}} App
 */

/** @returns {Promise<ClientConfig>} */
async function loadConfig() {
  try {
    const r = await fetch('/api/client-config', { cache: 'no-store' });
    if (!r.ok) return DEFAULTS;
    return { ...DEFAULTS, ...(await r.json()) };
  } catch {
    return DEFAULTS;
  }
}

/** Only http(s) links from the operator are shown. @param {string | null} url */
function safeLink(url) {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

/** @param {ClientConfig} config */
function renderChrome(config) {
  const header = document.getElementById('site-header');
  const footer = document.getElementById('site-footer');
  const skip = document.querySelector('.skip-link');
  if (skip) skip.textContent = t('skip');
  if (header) {
    header.replaceChildren(
      h('a', { class: 'brand', href: '/', 'aria-label': t('home_link', { app: config.app_name }) },
        h('img', { src: '/api/logo', alt: '', class: 'logo', width: 32, height: 32 }),
        h('span', { class: 'brand-name', text: config.app_name })),
    );
  }
  if (footer) {
    const imprint = safeLink(config.imprint_url);
    const privacy = safeLink(config.privacy_url);
    footer.replaceChildren(
      h('nav', { 'aria-label': t('legal_nav') },
        h('ul', {},
          imprint && h('li', {}, h('a', { href: imprint, rel: 'noopener noreferrer', text: t('imprint') })),
          privacy && h('li', {}, h('a', { href: privacy, rel: 'noopener noreferrer', text: t('privacy') })),
          h('li', { class: 'footer-note', text: t(config.direct_calls ? 'footer_note_direct' : 'footer_note') }))),
    );
  }
}

async function main() {
  const root = document.getElementById('app');
  if (!root) return;
  const config = await loadConfig();
  setLanguage(chooseLanguage(navigator.languages ?? [navigator.language], config.default_language));
  renderChrome(config);

  /** @type {App} */
  const app = {
    config,
    root,
    navigate(path) {
      history.pushState(null, '', path);
      route();
    },
  };

  function route() {
    document.body.classList.remove('in-call');
    let room = '';
    try {
      room = decodeURIComponent(location.pathname.replace(/^\/+/, ''));
    } catch {
      room = '\u0000';
    }
    const token = /^t\/([A-Za-z0-9_-]{1,64})$/.exec(room)?.[1];
    if (token) {
      // A patient's appointment link (docs/teletherapy.md).
      renderPatient(app, token).catch((err) => console.warn('kabine: appointment page failed', err));
    } else if (room === 'sessions') {
      renderSessions(app).catch((err) => console.warn('kabine: sessions page failed', err));
    } else if (room === 'account') {
      renderAccount(app).catch((err) => console.warn('kabine: account page failed', err));
    } else if (!room) {
      renderWelcome(app);
    } else if (roomNameIsValid(room)) {
      renderPrejoin(app, room);
    } else {
      renderWelcome(app, room);
    }
  }

  window.addEventListener('popstate', () => {
    // Leaving a call by the back button ends it.
    window.dispatchEvent(new Event('kabine:leave'));
    route();
  });
  route();
}

main().catch((err) => {
  console.error('kabine: start failed', err);
  const root = document.getElementById('app');
  if (root) showPage(root, 'Kabine', h('h1', { text: 'Kabine' }), h('p', { text: String(err) }));
});
