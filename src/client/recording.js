// @ts-check
// Recording in the call (docs/recording.md): the indicator every
// participant sees while a recording is asked for or runs (who is and who
// is not recorded), the consent dialog that cannot be dismissed without an
// answer, withdrawing a consent, and the moderator's start and stop. The
// server decides; this module shows and asks.

import { announce, h } from './dom.js';
import { language, t } from './i18n.js';

/**
 * @typedef {object} RecordingContext
 * @property {import('./protocol.js').Session} session
 * @property {import('./app.js').RecordingConfig} config
 * @property {(text: string) => void} toast
 */

/** @param {RecordingContext} ctx */
export function createRecording(ctx) {
  const { session, config } = ctx;
  /** @param {string} id */
  const nameOf = (id) => (id === session.you?.id ? t('rec_you') : session.participants.get(id)?.display_name || t('anonymous'));

  // ---- the consent dialog: modal, Escape does not close it -----------------
  const practiceText = language() === 'de' ? config.consent_text_de : config.consent_text_en;
  const askedBy = h('p', { id: 'recording-consent-by' });
  const agree = h('button', { type: 'button', class: 'primary', id: 'recording-agree', text: t('rec_agree'),
    on: { click: () => answer(true) } });
  const decline = h('button', { type: 'button', class: 'secondary', id: 'recording-decline', text: t('rec_decline'),
    on: { click: () => answer(false) } });
  const consentDialog = h('dialog', { class: 'help mod-dialog rec-dialog', id: 'recording-consent',
    'aria-labelledby': 'recording-consent-title', 'aria-describedby': 'recording-consent-by recording-consent-text' },
  h('h2', { id: 'recording-consent-title', text: t('rec_consent_title') }),
  askedBy,
  h('p', { id: 'recording-consent-text', text: practiceText || t('rec_consent_text') }),
  h('p', { text: t(config.on_decline === 'cancel' ? 'rec_decline_cancels' : 'rec_decline_excludes') }),
  h('div', { class: 'row dialog-buttons' }, agree, decline));
  // No answer, no closing: Escape would otherwise dismiss a modal dialog.
  consentDialog.addEventListener('cancel', (e) => e.preventDefault());

  /** @param {boolean} yes */
  function answer(yes) {
    session.recordingConsent(yes);
    if (consentDialog.open) consentDialog.close();
    announce(t(yes ? 'rec_agreed_now' : 'rec_declined_now'));
  }

  session.on('recordingrequest', ({ byName }) => {
    askedBy.textContent = t('rec_consent_by', { name: byName || t('anonymous') });
    if (!consentDialog.open) consentDialog.showModal();
    agree.focus();
  });

  // ---- the indicator -------------------------------------------------------
  const dot = h('span', { class: 'rec-dot', 'aria-hidden': 'true' });
  const stateText = h('strong', { id: 'recording-state' });
  const whoText = h('span', { class: 'rec-who', id: 'recording-who' });
  const withdraw = h('button', { type: 'button', class: 'secondary small', id: 'recording-withdraw', hidden: true,
    text: t('rec_withdraw'), on: { click: () => answer(false) } });
  const stop = h('button', { type: 'button', class: 'secondary small danger-outline', id: 'record-stop', hidden: true,
    text: t('rec_stop'), on: { click: () => session.moderate({ type: 'record_stop' }) } });
  const indicator = h('div', { class: 'rec-indicator', id: 'recording-indicator', role: 'status', hidden: true },
    dot, stateText, whoText, withdraw, stop);
  const start = h('button', { type: 'button', class: 'secondary small', id: 'record-start', hidden: true,
    text: t('rec_start'), on: { click: () => session.moderate({ type: 'record_start' }) } });

  let lastState = 'off';
  function paint() {
    const r = session.recording;
    const me = session.you?.id || '';
    const mod = session.isModerator;
    start.hidden = !(config.enabled && mod && r.state === 'off');
    indicator.hidden = r.state === 'off';
    stop.hidden = !mod || r.state === 'off';
    withdraw.hidden = !r.agreed.includes(me) || r.state === 'off';
    indicator.classList.toggle('on', r.state === 'on');
    if (r.state === 'on') {
      stateText.textContent = t(r.agreed.includes(me) ? 'rec_on_you' : 'rec_on_not_you');
    } else {
      stateText.textContent = t('rec_asking');
    }
    const parts = [];
    if (r.agreed.length) parts.push(t(r.state === 'on' ? 'rec_recorded' : 'rec_agreed', { names: r.agreed.map(nameOf).join(', ') }));
    if (r.declined.length) parts.push(t('rec_not_recorded', { names: r.declined.map(nameOf).join(', ') }));
    if (r.pending.length) parts.push(t('rec_pending', { names: r.pending.map(nameOf).join(', ') }));
    whoText.textContent = parts.join(' · ');
    if (r.state !== lastState) {
      if (r.state === 'on') announce(t('rec_started'));
      if (r.state === 'off' && lastState !== 'off') {
        announce(t('rec_stopped'));
        if (consentDialog.open) consentDialog.close();
      }
      lastState = r.state;
    }
  }
  session.on('recording', paint);
  session.on('welcome', paint);
  session.on('updated', paint);
  session.on('joined', paint);
  session.on('left', paint);

  return { indicator, start, dialogs: consentDialog, paint };
}
