// @ts-check
// The chat panel of the call: the messages (room, private, a moderator's
// message to all rooms), the recipient list when private chat is allowed,
// the input, and the count of unread messages.

import { announce, h, panelHead } from './dom.js';
import { t } from './i18n.js';
import { MAX_CHAT_CHARS } from './protocol.js';

/**
 * @typedef {object} ChatContext
 * @property {import('./protocol.js').Session} session
 * @property {(text: string) => void} toast
 * @property {() => void} unreadChanged the number of unread messages changed
 * @property {() => void} close the panel's close button was pressed
 */

/** @param {ChatContext} ctx */
export function createChat(ctx) {
  const { session } = ctx;
  let open = false;
  let unread = 0;

  const log = h('ol', { class: 'chat-list', id: 'chat-log' });
  const logBox = h('div', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': t('chat_messages') }, log);
  const input = h('textarea', { id: 'chat-input', rows: 2, maxLength: MAX_CHAT_CHARS, placeholder: t('chat_placeholder') });
  // Recipient: everyone, or one participant (private chat, when allowed).
  const to = h('select', { id: 'chat-to', on: { change: () => paintTo() } });
  const toField = h('div', { class: 'chat-to', hidden: true }, h('label', { for: 'chat-to', text: t('chat_to') }), to);
  const inputLabel = h('label', { for: 'chat-input', class: 'sr-only', id: 'chat-input-label', text: t('chat_input_label') });
  const form = h('form', { class: 'chat-form', on: { submit: (/** @type {Event} */ e) => {
    e.preventDefault();
    send();
  } } },
  toField, inputLabel, input, h('button', { type: 'submit', class: 'primary small', text: t('send') }));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      send();
    }
  });
  const empty = h('p', { class: 'empty', text: t('chat_empty') });
  const heading = h('h2', { id: 'chat-heading', text: t('chat'), tabIndex: -1 });
  const panel = h('aside', { class: 'panel', id: 'chat-panel', hidden: true, 'aria-labelledby': 'chat-heading' },
    panelHead(heading, t('close_panel'), ctx.close), empty, logBox, form);

  /** Fills the recipient list; hidden when private chat is off. */
  function paintTo() {
    const allowed = session.roomState.private_chat && session.participants.size > 0;
    const keep = to.value;
    to.replaceChildren(h('option', { value: '', text: t('chat_everyone') }),
      ...[...session.participants.values()].map((p) => h('option', { value: p.id, text: p.display_name || t('anonymous') })));
    to.value = allowed && session.participants.has(keep) ? keep : '';
    toField.hidden = !allowed;
    const person = to.value ? session.participants.get(to.value) : null;
    const label = person ? t('chat_input_private', { name: person.display_name || t('anonymous') }) : t('chat_input_label');
    input.placeholder = label;
    inputLabel.textContent = label;
  }

  function send() {
    const text = input.value;
    if (!text.trim()) return;
    const recipient = to.value;
    if (!(recipient ? session.sendPrivateChat(recipient, text) : session.sendChat(text))) {
      ctx.toast(session.state === 'joined' ? t('err_chat_rejected') : t('chat_offline'));
      return;
    }
    // Shown when the server relays it back to everyone, sender included:
    // what appears is what the others got.
    input.value = '';
  }

  /**
   * @param {import('./protocol.js').ChatMessage} m
   * @param {boolean} own
   */
  function add(m, own) {
    const { from, from_name: name, text, ts } = m;
    const time = new Date(ts).toLocaleTimeString(document.documentElement.lang, { hour: '2-digit', minute: '2-digit' });
    empty.hidden = true;
    let note = '';
    if (m.broadcast) note = t('broadcast_badge');
    else if (m.to && own) note = t('private_to', { name: session.participants.get(m.to)?.display_name || t('anonymous') });
    else if (m.to) note = t('private_from');
    const kind = m.broadcast ? 'broadcast' : m.to ? 'private' : '';
    log.append(h('li', { class: `${own ? 'own' : ''} ${kind}`, dataset: { from } },
      h('p', { class: 'meta' }, h('span', { class: 'from', text: own ? t('you') : name || t('anonymous') }),
        !own && session.participants.get(from)?.host
          ? h('span', { class: 'staff-badge', title: t('host_badge_hint'), text: t('host_badge') }) : null,
        note ? h('span', { class: 'note', text: ` (${note})` }) : null, ' ',
        h('time', { dateTime: new Date(ts).toISOString(), text: time })),
      h('p', { class: 'text', text })));
    logBox.scrollTop = logBox.scrollHeight;
    if (m.broadcast && !own) {
      const said = t('broadcast_from', { name: name || t('anonymous'), text });
      announce(said, 'assertive');
      ctx.toast(said);
    } else if (!own && !open) {
      announce(t('chat_from', { name: name || t('anonymous'), text }));
    }
    if (!own && !open) {
      unread++;
      ctx.unreadChanged();
    }
  }

  return {
    panel,
    add,
    paintTo,
    get open() {
      return open;
    },
    get unread() {
      return unread;
    },
    /**
     * Shows or hides the panel (focus goes to the input when shown).
     * @param {boolean} show
     */
    setOpen(show) {
      open = show;
      if (show) unread = 0;
      panel.hidden = !show;
      if (show) input.focus();
    },
    /**
     * Addresses the next message to one participant.
     * @param {string} id
     */
    privateTo(id) {
      paintTo();
      to.value = id;
      paintTo();
    },
  };
}
