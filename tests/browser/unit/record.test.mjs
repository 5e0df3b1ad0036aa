// record.js: the session record made in the therapist's browser lists
// practice, therapist, date, start, end, duration, every participant with
// typed name, link, consent time and version, joined and left, and the
// connection type, in German and in English; nothing in it is markup that
// a typed name could inject, and it loads nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';

process.env.TZ = 'Europe/Berlin';
const { recordHtml, recordFileName } = await import('../../../src/client/record.js');
const { setLanguage } = await import('../../../src/client/i18n.js');

// Mon 7 Dec 2026, 10:00:00 Berlin = 09:00:00 UTC.
const T0 = Date.UTC(2026, 11, 7, 9, 0, 0) / 1000;
const attendance = {
  practice: 'Praxis Dr. Sommer',
  therapist: 'Dr. Eva Sommer',
  title: 'Gruppe <Dienstag>',
  start: T0,
  duration_minutes: 50,
  group: true,
  started_at: T0 + 65,
  ended_at: T0 + 65 + 47 * 60,
  connection: 'e2ee',
  consent_version: '0123456789abcdef',
  participants: [
    { label: 'Patient 1', name: 'Jörg <script>alert(1)</script>', consented_at: T0 - 120, consent_version: '0123456789abcdef',
      joined_at: T0 + 70, left_at: T0 + 65 + 47 * 60 },
    { label: 'Patient 2', name: 'Ana & "Co"', consented_at: T0 - 60, consent_version: '0123456789abcdef',
      joined_at: null, left_at: null },
  ],
};

test('the English record has every fact the issue asks for', () => {
  setLanguage('en');
  const html = recordHtml(attendance, T0 + 3600);
  for (const text of ['Session record', 'Praxis Dr. Sommer', 'Dr. Eva Sommer', 'Gruppe &#60;Dienstag&#62;',
    'Monday, 7 December 2026', '10:01:05', '10:48:05', '47 minutes', 'Through the server, end-to-end encrypted',
    'Patient 1', 'Patient 2', '0123456789abcdef', 'the server deleted its copy']) {
    assert.ok(html.includes(text), `missing ${text}`);
  }
  // Consent time of Patient 1 (09:58 Berlin), joined 10:01:10.
  assert.match(html, /7 Dec 2026, 09:58/);
  assert.ok(html.includes('10:01:10'));
  assert.equal(recordFileName(attendance), 'session-record-2026-12-07-1001.html');
});

test('the German record', () => {
  setLanguage('de');
  const html = recordHtml(attendance, T0 + 3600);
  for (const text of ['Sitzungsprotokoll', 'Montag, 7. Dezember 2026', '47 Minuten', 'Einwilligung erteilt',
    'Über den Server, Ende-zu-Ende-verschlüsselt', 'lang="de"']) {
    assert.ok(html.includes(text), `missing ${text}`);
  }
  assert.equal(recordFileName(attendance), 'sitzungsprotokoll-2026-12-07-1001.html');
  setLanguage('en');
});

test('typed names are text, never markup, and the file loads nothing', () => {
  setLanguage('en');
  const html = recordHtml(attendance);
  assert.ok(!html.includes('<script>'), 'a typed name became markup');
  assert.ok(html.includes('Jörg &#60;script&#62;alert(1)&#60;/script&#62;'));
  assert.ok(html.includes('Ana &#38; &#34;Co&#34;'));
  assert.ok(!/\b(src|href)=|url\(|@import/i.test(html), 'the record refers to something outside itself');
  assert.ok(html.includes("default-src 'none'"));
});

test('a session that never started says so', () => {
  setLanguage('en');
  const html = recordHtml({ ...attendance, started_at: null, ended_at: null, participants: [] });
  assert.ok(html.includes('not started'));
});

test('a session shorter than a minute gives its seconds, not 0 minutes', () => {
  setLanguage('de');
  const short = recordHtml({ ...attendance, ended_at: T0 + 65 + 20 });
  assert.ok(short.includes('>20 Sekunden<') && !short.includes('>0 Minuten<'), 'the duration of a short session');
  setLanguage('en');
  assert.ok(recordHtml({ ...attendance, ended_at: T0 + 65 + 90 }).includes('2 minutes'), 'whole minutes from one on');
});
