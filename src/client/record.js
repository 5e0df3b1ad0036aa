// @ts-check
// The session record of a teletherapy appointment (docs/teletherapy.md):
// made in the therapist's browser from `GET /api/appointments/{id}/attendance`
// as one printable HTML file (German or English, the page's language), and
// downloaded. The server deletes its copy right after (sessions.js).
// Nothing in the file loads anything: its style is inside it.

import { language, t } from './i18n.js';

/**
 * What the server tells about a finished appointment (times in unix seconds).
 * @typedef {object} Attendance
 * @property {string} practice
 * @property {string} therapist
 * @property {string | null} title
 * @property {number} start
 * @property {number} duration_minutes
 * @property {boolean} group
 * @property {number | null} started_at
 * @property {number | null} ended_at
 * @property {'direct' | 'e2ee' | 'transit'} connection
 * @property {string} consent_version
 * @property {{label: string, name: string, consented_at: number, consent_version: string,
 *   joined_at: number | null, left_at: number | null}[]} participants
 */

/** @param {string} s */
export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Date and time formats in the page's language and the browser's time zone. */
export function formats() {
  const locale = language() === 'de' ? 'de-DE' : 'en-GB';
  const date = new Intl.DateTimeFormat(locale, { dateStyle: 'full' });
  const time = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });
  const timeSec = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const short = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
  return {
    /** @param {number} unix */ date: (unix) => date.format(unix * 1000),
    /** @param {number} unix */ time: (unix) => time.format(unix * 1000),
    /** @param {number} unix */ timeSec: (unix) => timeSec.format(unix * 1000),
    /** @param {number} unix */ dateTime: (unix) => short.format(unix * 1000),
  };
}

/**
 * The record as a complete HTML document.
 * @param {Attendance} a
 * @param {number} [now] unix seconds (when it was made)
 */
export function recordHtml(a, now = Math.floor(Date.now() / 1000)) {
  const f = formats();
  const e = escapeHtml;
  const dash = '–';
  const held = a.started_at !== null;
  const seconds = held && a.ended_at !== null ? Math.max(0, a.ended_at - /** @type {number} */ (a.started_at)) : null;
  // Whole minutes, as billed; a session shorter than a minute in seconds.
  const duration = seconds === null
    ? dash
    : seconds < 60
      ? t('record_duration_seconds', { seconds })
      : t('record_duration_value', { minutes: Math.round(seconds / 60) });
  /** @type {[string, string][]} */
  const facts = [
    [t('record_practice'), a.practice],
    [t('record_therapist'), a.therapist],
    [t('record_session'), a.title || t('sessions_untitled')],
    [t('record_date'), f.date(a.started_at ?? a.start)],
    [t('record_planned'), `${f.time(a.start)} (${t('record_duration_value', { minutes: a.duration_minutes })})`],
    [t('record_start'), held ? f.timeSec(/** @type {number} */ (a.started_at)) : t('record_not_held')],
    [t('record_end'), a.ended_at !== null ? f.timeSec(a.ended_at) : dash],
    [t('record_duration'), duration],
    [t('record_connection'), t(`record_connection_${a.connection}`)],
    [t('record_consent_version'), a.consent_version],
  ];
  const rows = a.participants.map((p) => `<tr><td>${e(p.name)}</td><td>${e(p.label)}</td>` +
    `<td>${e(f.dateTime(p.consented_at))}</td><td><code>${e(p.consent_version)}</code></td>` +
    `<td>${p.joined_at !== null ? e(f.timeSec(p.joined_at)) : dash}</td>` +
    `<td>${p.left_at !== null ? e(f.timeSec(p.left_at)) : dash}</td></tr>`).join('\n');
  const title = `${t('record_title')} – ${a.title || t('sessions_untitled')}`;
  return `<!doctype html>
<html lang="${language()}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${e(title)}</title>
<style>
body { font: 11pt/1.45 system-ui, sans-serif; color: #1a1a1a; max-width: 50rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.25rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #888; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #eee; }
td:nth-child(2), td:nth-child(5), td:nth-child(6) { white-space: nowrap; }
.note { margin-top: 1.5rem; font-size: .95rem; }
.sign { margin-top: 2.5rem; border-top: 1px solid #1a1a1a; padding-top: .3rem; width: 60%; }
@media print { body { margin: 0; } }
</style>
</head>
<body>
<h1>${e(t('record_title'))}</h1>
<dl>
${facts.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join('\n')}
</dl>
<h2>${e(t('record_participants'))}</h2>
<table>
<thead><tr><th scope="col">${e(t('record_name'))}</th><th scope="col">${e(t('record_link'))}</th>` +
`<th scope="col">${e(t('record_consent'))}</th><th scope="col">${e(t('record_consent_version'))}</th>` +
`<th scope="col">${e(t('record_joined'))}</th><th scope="col">${e(t('record_left'))}</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p class="note">${e(t('record_deleted'))} ${e(t('record_made', { when: f.dateTime(now) }))}</p>
<p class="sign">${e(t('record_confirm'))}</p>
</body>
</html>
`;
}

/**
 * The file name: `session-record-2026-12-07-1030.html` (local time).
 * @param {Attendance} a
 */
export function recordFileName(a) {
  const d = new Date((a.started_at ?? a.start) * 1000);
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${t('record_file')}-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}.html`;
}

/**
 * Saves the record as a file (a download of a Blob made in this page).
 * @param {Attendance} a
 */
export function downloadRecord(a) {
  const blob = new Blob([recordHtml(a)], { type: 'text/html;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = recordFileName(a);
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own copy once started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
