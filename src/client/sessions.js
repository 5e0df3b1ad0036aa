// @ts-check
// The therapist's sessions page (`/sessions`, docs/teletherapy.md): log in,
// plan a session (single or group), hand out each patient's personal link
// (copy, QR code, withdraw), start the session, and after it download the
// session record, after which the server deletes the appointment.
//
// The key of a session's end-to-end encryption is made here, when the
// session is created, and kept only in this browser's localStorage
// (`kabine.appointment.<id>`): every link carries it in its fragment, which
// never reaches the server (docs/e2ee.md).

import { announce, h, icon, showPage } from './dom.js';
import { t } from './i18n.js';
import { fetchSession, loginForm, logout } from './login.js';
import { linkKeyToHash, newLinkKey } from './e2ee.js';
import { qrSvg } from './qr.js';
import { downloadRecord, formats } from './record.js';

/**
 * An appointment as the server shows it to its therapist (unix seconds).
 * @typedef {object} Appointment
 * @property {string} id
 * @property {string | null} title
 * @property {number} start
 * @property {number} duration_minutes
 * @property {boolean} group
 * @property {string} room
 * @property {number} opens_at
 * @property {number} closes_at
 * @property {'scheduled' | 'open' | 'ended'} state
 * @property {number | null} started_at
 * @property {number | null} ended_at
 * @property {AppointmentLink[]} links
 *
 * @typedef {{n: number, label: string, token: string, path: string,
 *   state: 'unused' | 'waiting' | 'in' | 'left' | 'revoked', name: string | null,
 *   consented_at: number | null}} AppointmentLink
 */

/** How often the list is refreshed (who waits, who is in). */
const REFRESH_MS = 10_000;
/** A session's default length. */
const DEFAULT_MINUTES = 50;

/** Where this browser keeps an appointment's link key. @param {string} id */
export const keyStorageName = (id) => `kabine.appointment.${id}`;

/** @param {string} id @returns {string} the fragment (`#k=…`), or '' */
function storedKey(id) {
  try {
    return localStorage.getItem(keyStorageName(id)) ?? '';
  } catch {
    return '';
  }
}

/**
 * A JSON request to the appointments API.
 * @param {string} method
 * @param {string} path
 * @param {any} [body]
 * @returns {Promise<{status: number, body: any}>}
 */
async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: r.status === 204 ? null : await r.json().catch(() => null) };
}

/**
 * A modal question with a confirm and a cancel button; resolves to the answer.
 * @param {string} id
 * @param {string} title
 * @param {string} text
 * @param {string} confirmLabel
 * @returns {Promise<boolean>}
 */
export function confirmDialog(id, title, text, confirmLabel) {
  const opener = /** @type {HTMLElement | null} */ (document.activeElement);
  return new Promise((resolve) => {
    let answer = false;
    const d = h('dialog', { class: 'help mod-dialog', id, 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-text` },
      h('h2', { id: `${id}-title`, text: title }),
      h('p', { id: `${id}-text`, text }),
      h('div', { class: 'row dialog-buttons' },
        h('button', { type: 'button', class: 'primary danger', id: `${id}-confirm`, text: confirmLabel,
          on: { click: () => {
            answer = true;
            d.close();
          } } }),
        h('button', { type: 'button', class: 'secondary', id: `${id}-cancel`, text: t('cancel'),
          on: { click: () => d.close() } })));
    d.addEventListener('close', () => {
      d.remove();
      if (opener?.isConnected) opener.focus();
      resolve(answer);
    });
    document.body.append(d);
    d.showModal();
    // A destructive question starts on "Cancel".
    document.getElementById(`${id}-cancel`)?.focus();
  });
}

/** @param {import('./app.js').App} app */
export async function renderSessions(app) {
  const f = formats();
  const body = h('div', { class: 'sessions-body' });
  const status = h('p', { class: 'sr-only', role: 'status', id: 'sessions-status' });
  showPage(app.root, `${t('sessions_title')} – ${app.config.app_name}`,
    h('section', { class: 'sessions' }, h('h1', { text: t('sessions_title') }), status, body));
  /** @type {ReturnType<typeof setInterval> | undefined} */ let timer;
  const stop = () => {
    clearInterval(timer);
    window.removeEventListener('kabine:leave', stop);
  };
  window.addEventListener('kabine:leave', stop);
  /** @type {Appointment[]} */ let appointments = [];
  const list = h('div', { class: 'appointments', id: 'appointments' });

  /** @param {string} text */
  const say = (text) => {
    status.textContent = text;
    announce(text);
  };

  paintLogin(await fetchSession());

  /** @param {import('./login.js').SessionInfo | null} info */
  async function paintLogin(info) {
    const user = info?.user;
    if (!user) {
      body.replaceChildren(h('p', { text: t('sessions_login_first') }),
        h('h2', { text: t('login_title') }),
        loginForm({ id: 'sessions-login', onLoggedIn: (next) => paintLogin(next) }));
      return;
    }
    const who = h('p', { class: 'who' }, t('logged_in_as', { name: user.display_name }), ' ',
      h('button', { type: 'button', class: 'secondary small', id: 'sessions-logout', text: t('logout'),
        on: { click: async () => {
          stop();
          await logout();
          announce(t('logged_out'));
          paintLogin(await fetchSession());
        } } }));
    if (!user.may_host) {
      body.replaceChildren(who, h('p', { class: 'notice', id: 'sessions-problem', text: t('sessions_not_therapist') }));
      return;
    }
    body.replaceChildren(who, h('p', { class: 'lead', text: t('sessions_lead') }), newForm(),
      h('h2', { id: 'appointments-heading', tabIndex: -1, text: t('sessions_list') }), list,
      h('p', { class: 'hint', text: t('sessions_retention') }));
    await refresh();
    document.getElementById('session-title')?.focus();
    clearInterval(timer);
    timer = setInterval(() => {
      if (!list.isConnected) return stop();
      // Not while someone uses a dialog or types.
      if (document.querySelector('dialog[open]')) return;
      refresh().catch(() => {});
    }, REFRESH_MS);
  }

  async function refresh() {
    /** @type {{status: number, body: any}} */ let r;
    try {
      r = await api('GET', '/api/appointments');
    } catch {
      list.replaceChildren(h('p', { class: 'problem', role: 'alert', text: t('sessions_load_failed') }));
      return;
    }
    if (r.status === 401) return paintLogin(null);
    if (r.status !== 200) {
      const key = r.body?.error === 'teletherapy_off' ? 'sessions_off'
        : r.body?.error === 'not_a_therapist' ? 'sessions_not_therapist' : 'sessions_load_failed';
      body.replaceChildren(h('p', { class: 'notice', id: 'sessions-problem', text: t(key) }));
      stop();
      return;
    }
    appointments = r.body?.appointments ?? [];
    paintList();
  }

  function paintList() {
    const focused = document.activeElement?.id ?? '';
    list.replaceChildren(...(appointments.length ? appointments.map(card) : [h('p', { id: 'no-sessions', text: t('sessions_none') })]));
    if (focused && !document.getElementById(focused)?.isSameNode(document.activeElement)) {
      document.getElementById(focused)?.focus();
    }
  }

  /**
   * The problem of a refused request, in words.
   * @param {{status: number, body: any}} r
   */
  function problemOf(r) {
    const code = r.body?.error;
    const message = String(r.body?.message ?? '');
    if (code === 'bad_title') return t('sessions_bad_title');
    if (code === 'bad_start') return t('sessions_bad_start');
    if (code === 'bad_duration') return t('sessions_bad_duration');
    // The server's message names the limit.
    if (code === 'too_many_patients') return t('sessions_too_many_patients', { max: /\d+/.exec(message)?.[0] ?? '?' });
    if (code === 'too_many_appointments') return t('sessions_too_many_appointments');
    return t('sessions_problem', { message: message || String(r.status) });
  }

  // ---- the form ------------------------------------------------------------
  function newForm() {
    const soon = new Date(Date.now() + 15 * 60_000);
    soon.setMinutes(Math.ceil(soon.getMinutes() / 5) * 5, 0, 0);
    const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
    const title = h('input', { id: 'session-title', type: 'text', maxLength: 100, autocomplete: 'off' });
    const date = h('input', { id: 'session-date', type: 'date', required: true,
      value: `${soon.getFullYear()}-${p(soon.getMonth() + 1)}-${p(soon.getDate())}` });
    const time = h('input', { id: 'session-time', type: 'time', required: true, step: 300,
      value: `${p(soon.getHours())}:${p(soon.getMinutes())}` });
    const duration = h('input', { id: 'session-duration', type: 'number', min: 5, max: 480, step: 5, required: true,
      value: DEFAULT_MINUTES, inputMode: 'numeric' });
    const single = h('input', { id: 'session-single', type: 'radio', name: 'session-kind', value: 'single', checked: true });
    const group = h('input', { id: 'session-group', type: 'radio', name: 'session-kind', value: 'group' });
    const patients = h('input', { id: 'session-patients', type: 'number', min: 1, max: 99, value: 3, inputMode: 'numeric' });
    const patientsField = h('div', { class: 'field', hidden: true },
      h('label', { for: 'session-patients', text: t('sessions_field_patients') }), patients);
    const problem = h('p', { class: 'field-error', id: 'session-problem', role: 'alert' });
    const kindChanged = () => {
      patientsField.hidden = !group.checked;
    };
    single.addEventListener('change', kindChanged);
    group.addEventListener('change', kindChanged);
    const submit = h('button', { type: 'submit', class: 'primary', id: 'session-create', text: t('sessions_create') });
    return h('form', { class: 'card session-form', id: 'session-form', novalidate: true, 'aria-labelledby': 'session-form-title',
      on: { submit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        problem.textContent = '';
        const start = new Date(`${date.value}T${time.value}`);
        if (!date.value || !time.value || Number.isNaN(start.getTime())) {
          problem.textContent = t('sessions_missing_date');
          (date.value ? time : date).focus();
          return;
        }
        submit.disabled = true;
        try {
          const r = await api('POST', '/api/appointments', {
            title: title.value.trim() || null,
            start: Math.floor(start.getTime() / 1000),
            duration_minutes: Math.floor(Number(duration.value) || 0),
            group: group.checked,
            patients: group.checked ? Math.floor(Number(patients.value) || 0) : 1,
          });
          if (r.status === 401) return paintLogin(null);
          if (r.status !== 201 && r.status !== 200) {
            problem.textContent = problemOf(r);
            return;
          }
          /** @type {Appointment} */ const a = r.body;
          // The session's key: made here, kept here, never sent to the server.
          if (app.config.e2ee !== 'off') {
            try {
              localStorage.setItem(keyStorageName(a.id), linkKeyToHash(newLinkKey()));
            } catch {
              // Private mode without storage: the links below go without a key.
            }
          }
          title.value = '';
          await refresh();
          say(t('sessions_created', { when: t('sessions_when', { date: f.date(a.start), time: f.time(a.start), minutes: a.duration_minutes }) }));
          document.getElementById(`appointment-${a.id}-title`)?.focus();
        } catch {
          problem.textContent = t('sessions_load_failed');
        } finally {
          submit.disabled = false;
        }
      } } },
    h('h2', { id: 'session-form-title', text: t('sessions_new') }),
    h('div', { class: 'field' }, h('label', { for: 'session-title', text: t('sessions_field_title') }), title),
    h('div', { class: 'row session-when' },
      h('div', { class: 'field' }, h('label', { for: 'session-date', text: t('sessions_field_date') }), date),
      h('div', { class: 'field' }, h('label', { for: 'session-time', text: t('sessions_field_time') }), time),
      h('div', { class: 'field' }, h('label', { for: 'session-duration', text: t('sessions_field_duration') }), duration)),
    h('fieldset', { class: 'session-kind' },
      h('legend', { text: t('sessions_field_kind') }),
      h('div', { class: 'radio' }, single, h('label', { for: 'session-single', text: t('sessions_single') })),
      h('div', { class: 'radio' }, group, h('label', { for: 'session-group', text: t('sessions_group') }))),
    patientsField, problem, submit);
  }

  // ---- one appointment -----------------------------------------------------
  /** @param {Appointment} a */
  function card(a) {
    const key = storedKey(a.id);
    const base = `${location.origin}`;
    const headingId = `appointment-${a.id}-title`;
    const label = a.title || t('sessions_untitled');
    const ended = a.state === 'ended';
    /** @param {string} id @param {string} text @param {() => void} action @param {string} [cls] @param {string} [aria] */
    const button = (id, text, action, cls = 'secondary small', aria) => h('button', { type: 'button', class: cls, id, text,
      'aria-label': aria, on: { click: action } });
    const links = h('ul', { class: 'appointment-links', 'aria-label': t('sessions_link_field') },
      a.links.map((l) => {
        const url = `${base}${l.path}${key}`;
        const revoked = l.state === 'revoked';
        const field = h('input', { type: 'text', readOnly: true, value: url, id: `link-${a.id}-${l.n}`,
          class: 'link-field', 'aria-label': `${t('sessions_link_field')} ${l.label}`, hidden: revoked || ended,
          on: { focus: () => field.select() } });
        return h('li', { class: `appointment-link link-${l.state}`, dataset: { link: l.label, state: l.state } },
          h('span', { class: 'link-label', text: l.label }),
          h('span', { class: 'link-state', text: t(`sessions_link_state_${l.state}`) }),
          l.name ? h('span', { class: 'link-name', text: t('sessions_link_name', { name: l.name }) }) : null,
          field,
          revoked || ended ? null : h('span', { class: 'link-actions' },
            button(`copy-${a.id}-${l.n}`, t('sessions_copy'), () => copy(url, l.label), 'secondary small',
              t('sessions_copy_label', { label: l.label })),
            button(`qr-${a.id}-${l.n}`, t('sessions_qr'), () => showQr(url, l.label), 'secondary small',
              t('sessions_qr_label', { label: l.label })),
            button(`revoke-${a.id}-${l.n}`, t('sessions_revoke'), () => revoke(a, l), 'secondary small danger-outline',
              t('sessions_revoke_label', { label: l.label }))));
      }));
    const own = `${base}/${a.room}${key}`;
    return h('article', { class: `card appointment state-${a.state}`, id: `appointment-${a.id}`, dataset: { room: a.room },
      'aria-labelledby': headingId },
    h('h3', { id: headingId, tabIndex: -1 }, label, ' ',
      h('span', { class: `badge state-${a.state}`, text: t(`sessions_state_${a.state}`) })),
    h('p', { class: 'when', text: t('sessions_when', { date: f.date(a.start), time: f.time(a.start), minutes: a.duration_minutes }) }),
    ended ? null : h('p', { class: 'hint', text: t('sessions_opens', { time: f.dateTime(a.opens_at) }) }),
    key || ended || app.config.e2ee === 'off' ? null : h('p', { class: 'notice', text: t('sessions_no_key') }),
    links,
    ended ? null : h('p', { class: 'own-link' }, h('label', { for: `own-${a.id}`, text: t('sessions_own_link') }),
      h('input', { type: 'text', readOnly: true, value: own, id: `own-${a.id}`, class: 'link-field' })),
    h('div', { class: 'row appointment-actions' },
      ended ? null : h('button', { type: 'button', class: 'primary', id: `start-${a.id}`,
        on: { click: () => {
          stop();
          app.navigate(`/${a.room}${key}`);
        } } }, icon('camera'), h('span', { text: t('sessions_start') })),
      !ended && a.group ? button(`add-link-${a.id}`, t('sessions_add_link'), () => addLink(a)) : null,
      ended ? button(`record-${a.id}`, t('sessions_download'), () => record(a), 'primary') : null,
      button(`delete-${a.id}`, t('sessions_delete'), () => remove(a), 'secondary danger-outline')));
  }

  /** @param {string} url @param {string} label */
  async function copy(url, label) {
    try {
      await navigator.clipboard.writeText(url);
      say(t('sessions_copied', { label }));
    } catch {
      say(t('sessions_copy_failed'));
    }
  }

  /** @param {string} url @param {string} label */
  function showQr(url, label) {
    const opener = /** @type {HTMLElement | null} */ (document.activeElement);
    const title = t('sessions_qr_title', { label });
    const d = h('dialog', { class: 'help mod-dialog qr-dialog', id: 'qr-dialog', 'aria-labelledby': 'qr-dialog-title',
      'aria-describedby': 'qr-dialog-hint' },
    h('h2', { id: 'qr-dialog-title', text: title }),
    h('img', { class: 'qr', id: 'qr-image', width: 288, height: 288, alt: title,
      src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qrSvg(url, { size: 288 }))}` }),
    h('p', { id: 'qr-dialog-hint', class: 'hint', text: t('sessions_qr_hint') }),
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', class: 'primary', id: 'qr-close', text: t('close'), on: { click: () => d.close() } })));
    d.addEventListener('close', () => {
      d.remove();
      if (opener?.isConnected) opener.focus();
    });
    document.body.append(d);
    d.showModal();
  }

  /** @param {Appointment} a @param {AppointmentLink} l */
  async function revoke(a, l) {
    const yes = await confirmDialog('revoke-dialog', t('sessions_revoke_label', { label: l.label }),
      t('sessions_revoke_confirm', { label: l.label }), t('sessions_revoke'));
    if (!yes) return;
    const r = await api('POST', `/api/appointments/${encodeURIComponent(a.id)}/links/${l.n}/revoke`).catch(() => null);
    if (!r || r.status !== 200) return say(r ? problemOf(r) : t('sessions_load_failed'));
    await refresh();
    say(t('sessions_revoked', { label: l.label }));
  }

  /** @param {Appointment} a */
  async function addLink(a) {
    const r = await api('POST', `/api/appointments/${encodeURIComponent(a.id)}/links`).catch(() => null);
    if (!r || r.status !== 200) return say(r ? problemOf(r) : t('sessions_load_failed'));
    await refresh();
    /** @type {Appointment} */ const next = r.body;
    const last = next.links[next.links.length - 1];
    if (last) document.getElementById(`copy-${a.id}-${last.n}`)?.focus();
  }

  /** @param {Appointment} a */
  async function record(a) {
    const r = await api('GET', `/api/appointments/${encodeURIComponent(a.id)}/attendance`).catch(() => null);
    if (!r || r.status !== 200) return say(r ? problemOf(r) : t('sessions_load_failed'));
    downloadRecord(r.body);
    // The record is in the therapist's hands now: the server forgets the session.
    await api('DELETE', `/api/appointments/${encodeURIComponent(a.id)}`).catch(() => null);
    try {
      localStorage.removeItem(keyStorageName(a.id));
    } catch {
      // Nothing stored.
    }
    await refresh();
    say(t('sessions_downloaded'));
    document.getElementById('appointments-heading')?.focus();
  }

  /** @param {Appointment} a */
  async function remove(a) {
    const title = a.title || t('sessions_untitled');
    const yes = await confirmDialog('delete-dialog', t('sessions_delete'), t('sessions_delete_confirm', { title }),
      t('sessions_delete'));
    if (!yes) return;
    const r = await api('DELETE', `/api/appointments/${encodeURIComponent(a.id)}`).catch(() => null);
    if (!r || (r.status !== 204 && r.status !== 200)) return say(r ? problemOf(r) : t('sessions_load_failed'));
    try {
      localStorage.removeItem(keyStorageName(a.id));
    } catch {
      // Nothing stored.
    }
    await refresh();
    say(t('sessions_deleted'));
    document.getElementById('appointments-heading')?.focus();
  }
}
