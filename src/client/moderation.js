// @ts-check
// Moderation in the call: the actions menu per participant, the moderator
// tools (mute everyone, lower hands, lobby, room password, breakout rooms,
// end meeting), the lobby list with admit and deny, and what participants
// see of it (muted by a moderator, asked to unmute, "you are in breakout
// room X", messages to all rooms). The server decides who may do what;
// this module only offers what the role allows.

import { announce, append, h, icon } from './dom.js';
import { t } from './i18n.js';

/**
 * @typedef {import('./protocol.js').Participant} Participant
 * @typedef {import('./protocol.js').Person} Person
 * @typedef {import('./protocol.js').Source} Source
 *
 * @typedef {object} ModerationContext
 * @property {import('./protocol.js').Session} session
 * @property {(text: string) => void} toast
 * @property {() => void} repaint repaints the participant list and controls
 * @property {() => void} openPeople opens the participant panel
 * @property {(id: string) => void} privateTo opens the chat, addressed to one participant
 * @property {(person: Person) => void} messageTo opens the message dialog for someone waiting
 * @property {(source: Source) => Promise<void>} turnOff turns one of our own sources off
 * @property {(source: 'mic' | 'camera') => Promise<void>} turnOn turns one of our own sources on
 * @property {'off' | 'optional' | 'required'} e2eeMode the server's `e2ee.mode`
 */

/** @param {string} name */
const shown = (name) => name || t('anonymous');

/** @param {ModerationContext} ctx */
export function createModeration(ctx) {
  const { session } = ctx;

  // ---- a menu button's popup (WAI-ARIA menu button pattern) -------------
  /** @type {{el: HTMLElement, anchorKey: string, close: (focus: boolean) => void} | null} */
  let menu = null;

  /**
   * @param {HTMLButtonElement} anchor
   * @param {string} anchorKey `data-menu` of the anchor (it may be repainted meanwhile)
   * @param {string} label
   * @param {{label: string, action: () => void, danger?: boolean}[]} items
   */
  function openMenu(anchor, anchorKey, label, items) {
    menu?.close(false);
    const buttons = items.map((item) => h('button', {
      type: 'button', role: 'menuitem', tabIndex: -1, class: item.danger ? 'danger' : '', text: item.label,
      on: { click: () => {
        close(true);
        item.action();
      } },
    }));
    const el = h('div', { class: 'menu-popup', role: 'menu', 'aria-label': label, id: 'participant-menu' },
      buttons.map((b) => h('div', { role: 'none' }, b)));
    const rect = anchor.getBoundingClientRect();
    el.style.top = `${Math.round(rect.bottom + 4)}px`;
    el.style.right = `${Math.max(8, Math.round(window.innerWidth - rect.right))}px`;
    document.body.append(el);
    anchor.setAttribute('aria-expanded', 'true');
    const move = (/** @type {number} */ i) => buttons[(i + buttons.length) % buttons.length]?.focus();
    el.addEventListener('keydown', (e) => {
      const at = buttons.indexOf(/** @type {any} */ (document.activeElement));
      if (e.key === 'ArrowDown') move(at + 1);
      else if (e.key === 'ArrowUp') move(at - 1);
      else if (e.key === 'Home') move(0);
      else if (e.key === 'End') move(buttons.length - 1);
      else if (e.key === 'Escape') close(true);
      else if (e.key === 'Tab') close(false);
      else return;
      e.preventDefault();
      e.stopPropagation();
    });
    const outside = (/** @type {Event} */ e) => {
      if (!el.contains(/** @type {Node} */ (e.target)) && e.target !== anchor) close(false);
    };
    document.addEventListener('pointerdown', outside, true);
    /** @param {boolean} focus */
    function close(focus) {
      el.remove();
      document.removeEventListener('pointerdown', outside, true);
      const current = /** @type {HTMLElement | null} */ (document.querySelector(`[data-menu="${anchorKey}"]`));
      current?.setAttribute('aria-expanded', 'false');
      if (focus) current?.focus();
      if (menu?.el === el) menu = null;
    }
    menu = { el, anchorKey, close };
    move(0);
  }

  // ---- dialogs ------------------------------------------------------------
  /**
   * A modal dialog (focus stays inside; Escape closes; focus returns).
   * @param {string} id
   * @param {string} title
   * @param {(HTMLElement | null)[]} body
   */
  function dialog(id, title, body) {
    const heading = h('h2', { id: `${id}-title`, text: title });
    const d = h('dialog', { class: 'help mod-dialog', id, 'aria-labelledby': `${id}-title` }, heading, body);
    /** @type {HTMLElement | null} */ let opener = null;
    d.addEventListener('close', () => {
      const back = opener?.id ? document.getElementById(opener.id) : opener;
      if (back && back.isConnected) back.focus();
    });
    return {
      el: d,
      heading,
      open() {
        opener = /** @type {HTMLElement | null} */ (document.activeElement);
        if (!d.open) d.showModal();
      },
      close() {
        if (d.open) d.close();
      },
    };
  }

  // Room password.
  const pwInput = h('input', { type: 'password', id: 'set-room-password', autocomplete: 'new-password', maxLength: 128,
    'aria-describedby': 'set-password-text' });
  const pwRemove = h('button', { type: 'button', class: 'secondary', id: 'remove-room-password', text: t('remove_password'),
    on: { click: () => {
      session.moderate({ type: 'set_password', password: null });
      passwordDialog.close();
    } } });
  const passwordDialog = dialog('password-dialog', t('set_password_title'), [
    h('p', { id: 'set-password-text', text: t('set_password_text') }),
    h('form', { novalidate: true, on: { submit: (/** @type {Event} */ e) => {
      e.preventDefault();
      const value = pwInput.value;
      pwInput.value = '';
      if (!value) return;
      session.moderate({ type: 'set_password', password: value });
      passwordDialog.close();
    } } },
    h('label', { for: 'set-room-password', text: t('password_label') }), pwInput,
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'submit', class: 'primary', id: 'set-room-password-submit', text: t('set_password') }),
      pwRemove,
      h('button', { type: 'button', class: 'secondary', text: t('cancel'), on: { click: () => passwordDialog.close() } }))),
  ]);
  passwordDialog.el.addEventListener('close', () => {
    pwInput.value = '';
  });

  // End meeting.
  const endDialog = dialog('end-dialog', t('end_title'), [
    h('p', { text: t('end_text') }),
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', class: 'primary danger', id: 'end-confirm', text: t('end_confirm'),
        on: { click: () => {
          endDialog.close();
          session.moderate({ type: 'end_meeting' });
        } } }),
      h('button', { type: 'button', class: 'secondary', text: t('cancel'), on: { click: () => endDialog.close() } })),
  ]);

  // Remove one participant.
  const removeText = h('p', {});
  /** @type {string | null} */ let removeId = null;
  const removeDialog = dialog('remove-dialog', '', [
    removeText,
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', class: 'primary danger', id: 'remove-confirm', text: t('remove_confirm'),
        on: { click: () => {
          removeDialog.close();
          if (removeId) session.moderate({ type: 'remove', id: removeId });
        } } }),
      h('button', { type: 'button', class: 'secondary', text: t('cancel'), on: { click: () => removeDialog.close() } })),
  ]);

  // A moderator asks us to unmute.
  const askText = h('p', { id: 'unmute-text' });
  /** @type {'mic' | 'camera'} */ let askSource = 'mic';
  const askAccept = h('button', { type: 'button', class: 'primary', id: 'unmute-accept',
    on: { click: () => {
      askDialog.close();
      ctx.turnOn(askSource).catch(() => {});
    } } });
  const askDialog = dialog('unmute-dialog', '', [askText,
    h('div', { class: 'row dialog-buttons' }, askAccept,
      h('button', { type: 'button', class: 'secondary', id: 'unmute-decline', text: t('unmute_decline'),
        on: { click: () => askDialog.close() } }))]);
  askDialog.el.setAttribute('aria-describedby', 'unmute-text');

  // Breakout rooms.
  const breakoutBody = h('div', { class: 'breakout-body' });
  const breakoutDialog = dialog('breakout-dialog', t('breakout_title'), [breakoutBody,
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', class: 'secondary', id: 'breakout-done', text: t('close'),
        on: { click: () => breakoutDialog.close() } }))]);
  breakoutDialog.el.classList.add('wide');

  function paintBreakouts() {
    const focused = document.activeElement?.id ?? '';
    const { rooms, main } = session.breakouts;
    const options = [{ id: '', name: t('breakout_main') }, ...rooms.map((r) => ({ id: r.id, name: r.name }))];
    /** @type {{person: Person, room: string}[]} */
    const people = [
      ...main.map((p) => ({ person: p, room: '' })),
      ...rooms.flatMap((r) => r.participants.map((p) => ({ person: p, room: r.id }))),
    ];
    const countInput = h('input', { type: 'number', id: 'breakout-count', min: 1, max: 50, value: rooms.length ? 1 : 2,
      inputMode: 'numeric' });
    const create = h('form', { class: 'row breakout-create', novalidate: true, on: { submit: (/** @type {Event} */ e) => {
      e.preventDefault();
      const n = Math.max(1, Math.min(50, Math.floor(Number(countInput.value) || 1)));
      const names = Array.from({ length: n }, (_, i) => t('breakout_room_n', { n: rooms.length + i + 1 }));
      session.moderate({ type: 'breakout_create', names });
    } } },
    h('div', { class: 'field' }, h('label', { for: 'breakout-count', text: t('breakout_count') }), countInput),
    h('button', { type: 'submit', class: 'primary', id: 'breakout-create', text: t('breakout_create') }));
    const broadcastInput = h('textarea', { id: 'breakout-message', rows: 2, maxLength: 2000 });
    const list = h('ul', { class: 'breakout-people', 'aria-label': t('breakout_people') },
      people.map(({ person, room }) => {
        const sel = h('select', { id: `breakout-for-${person.id}`,
          'aria-label': t('breakout_room_for', { name: shown(person.display_name) }),
          on: { change: () => session.moderate({ type: 'breakout_assign', id: person.id, room: sel.value || null }) } },
        options.map((o) => h('option', { value: o.id, text: o.name, selected: o.id === room })));
        return h('li', { dataset: { participant: person.id } },
          h('span', { class: 'name', text: person.id === session.you?.id ? t('you_name', { name: shown(person.display_name) })
            : shown(person.display_name) }), sel);
      }));
    breakoutBody.replaceChildren();
    append(breakoutBody, [
      rooms.length ? null : h('p', { text: t('breakout_none') }),
      create,
      rooms.length ? list : null,
      rooms.length ? h('div', { class: 'row' },
        h('button', { type: 'button', class: 'secondary', id: 'breakout-random', text: t('breakout_random'),
          on: { click: () => session.moderate({ type: 'breakout_random' }) } }),
        h('button', { type: 'button', class: 'secondary danger-outline', id: 'breakout-close-all', text: t('breakout_close_all'),
          on: { click: () => session.moderate({ type: 'breakout_close_all' }) } })) : null,
      rooms.length ? h('form', { class: 'breakout-broadcast', novalidate: true, on: { submit: (/** @type {Event} */ e) => {
        e.preventDefault();
        const text = broadcastInput.value.trim();
        if (!text) return;
        session.moderate({ type: 'breakout_broadcast', text });
        broadcastInput.value = '';
        announce(t('breakout_sent'));
      } } },
      h('label', { for: 'breakout-message', text: t('breakout_broadcast_label') }), broadcastInput,
      h('button', { type: 'submit', class: 'primary', id: 'breakout-send', text: t('breakout_broadcast_send') })) : null,
    ]);
    if (focused) document.getElementById(focused)?.focus();
  }

  // ---- the lobby and the tools in the participant panel -----------------
  const lobbyHeading = h('h3', { id: 'lobby-heading', tabIndex: -1 });
  const lobbyList = h('ul', { class: 'lobby-list', id: 'lobby-list', 'aria-labelledby': 'lobby-heading' });
  const lobbyBox = h('section', { class: 'lobby', id: 'lobby', hidden: true, 'aria-labelledby': 'lobby-heading' },
    lobbyHeading, lobbyList);

  const lobbySwitch = h('button', { type: 'button', role: 'switch', class: 'switch', id: 'lobby-switch',
    'aria-checked': 'false', on: { click: () => session.moderate({ type: 'set_lobby', enabled: !session.roomState.lobby }) } });
  // Under e2ee.mode = "optional": end-to-end encryption for this meeting, on for good (docs/e2ee.md).
  const e2eeButton = h('button', { type: 'button', class: 'secondary small', id: 'enable-e2ee', hidden: true,
    title: t('e2ee_enable_hint'), on: { click: () => session.moderate({ type: 'enable_e2ee' }) } },
  icon('lock'), h('span', { text: t('e2ee_enable') }));
  /**
   * @param {string} id
   * @param {string} label
   * @param {() => void} action
   */
  const tool = (id, label, action) => h('button', { type: 'button', class: 'secondary small', id, text: label,
    on: { click: action } });
  const tools = h('section', { class: 'mod-tools', id: 'mod-tools', hidden: true, 'aria-labelledby': 'mod-tools-heading' },
    h('h3', { id: 'mod-tools-heading', text: t('mod_tools') }),
    h('div', { class: 'tool-row' },
      tool('mute-all', t('mute_all'), () => session.moderate({ type: 'mute_all', source: 'mic' })),
      tool('cameras-off-all', t('cameras_off_all'), () => session.moderate({ type: 'mute_all', source: 'camera' })),
      tool('lower-hands', t('lower_hands'), () => session.moderate({ type: 'lower_hands' })),
      tool('open-password', t('password_button'), () => passwordDialog.open()),
      tool('open-breakouts', t('breakout_button'), () => {
        paintBreakouts();
        breakoutDialog.open();
      }),
      tool('end-meeting', t('end_meeting'), () => endDialog.open())),
    e2eeButton,
    h('div', { class: 'switch-row' }, lobbySwitch, h('label', { for: 'lobby-switch', text: t('lobby_switch') })));

  // ---- indicators in the call bar ----------------------------------------
  const breakoutBadge = h('p', { class: 'breakout-badge', id: 'breakout-badge', role: 'status', hidden: true });
  const lockBadge = h('span', { class: 'room-badge', id: 'locked-badge', hidden: true }, icon('lock'),
    h('span', { text: t('locked_badge') }));
  const lobbyBadge = h('span', { class: 'room-badge', id: 'lobby-badge', hidden: true }, icon('door'),
    h('span', { text: t('lobby_badge') }));
  const knockButton = h('button', { type: 'button', class: 'knock-button', id: 'knock-button', hidden: true,
    on: { click: () => {
      ctx.openPeople();
      lobbyHeading.focus();
    } } });
  const badges = h('div', { class: 'room-badges' }, breakoutBadge, lockBadge, lobbyBadge, knockButton);

  function paint() {
    const mod = session.isModerator;
    tools.hidden = !mod;
    // A therapy session's lobby is always on, and it ends with "End session" (therapy.js).
    const therapy = !!session.appointment;
    const lobbyRow = lobbySwitch.parentElement;
    if (lobbyRow) lobbyRow.hidden = therapy;
    // Nor does it take a room password (everyone comes with a personal link) or breakout rooms.
    for (const id of ['#end-meeting', '#open-password', '#open-breakouts']) {
      const tool = tools.querySelector(id);
      if (tool instanceof HTMLElement) tool.hidden = therapy;
    }
    e2eeButton.hidden = !mod || ctx.e2eeMode !== 'optional' || session.roomState.e2ee;
    lobbySwitch.setAttribute('aria-checked', String(session.roomState.lobby));
    const pw = document.getElementById('remove-room-password');
    if (pw) pw.hidden = !session.roomState.locked;
    lockBadge.hidden = !session.roomState.locked;
    lobbyBadge.hidden = !session.roomState.lobby || therapy;
    const knocking = mod ? session.lobby : [];
    lobbyBox.hidden = knocking.length === 0;
    lobbyHeading.textContent = t('lobby_heading', { n: knocking.length });
    knockButton.hidden = knocking.length === 0;
    knockButton.replaceChildren(icon('door'), h('span', { text: t('lobby_heading', { n: knocking.length }) }));
    // Rows are rebuilt only when the list changed (see `actionButtons`).
    const listKey = `${therapy}/` + knocking.map((p) => `${p.id}:${p.display_name}:${p.link ?? ''}`).join(',');
    if (lobbyList.dataset.key === listKey) return paintBreakoutBadge(mod);
    lobbyList.dataset.key = listKey;
    lobbyList.replaceChildren(...knocking.map((p) => h('li', { dataset: { knocker: p.id, link: p.link } },
      h('span', { class: 'name', text: shown(p.display_name) }),
      p.link ? h('span', { class: 'link-label', text: t('therapy_link_label', { link: p.link }) }) : null,
      h('span', { class: 'lobby-actions' },
        // In a therapy session letting in is "calling in" (docs/teletherapy.md).
        h('button', { type: 'button', class: 'primary small admit',
          'aria-label': t(therapy ? 'therapy_call_in_name' : 'admit_name', { name: shown(p.display_name) }),
          text: t(therapy ? 'therapy_call_in' : 'admit'), on: { click: () => session.moderate({ type: 'lobby_admit', id: p.id }) } }),
        h('button', { type: 'button', class: 'secondary small message',
          'aria-label': t('therapy_message_name', { name: shown(p.display_name) }), text: t('therapy_message'),
          on: { click: () => ctx.messageTo(p) } }),
        h('button', { type: 'button', class: 'secondary small deny', 'aria-label': t('deny_name', { name: shown(p.display_name) }),
          text: t('deny'), on: { click: () => session.moderate({ type: 'lobby_deny', id: p.id }) } })))));
    paintBreakoutBadge(mod);
  }

  /** @param {boolean} mod */
  function paintBreakoutBadge(mod) {
    breakoutBadge.hidden = !session.breakout;
    breakoutBadge.textContent = session.breakout ? t('in_breakout', { name: session.breakout.name }) : '';
    if (!mod && breakoutDialog.el.open) breakoutDialog.close();
  }

  /**
   * Action buttons by participant id: the list is repainted often (every
   * state or quality change), and a button replaced between press and
   * release would lose the click, so each participant keeps one.
   * @type {Map<string, HTMLButtonElement>}
   */
  const actionButtons = new Map();

  /**
   * The actions button of a participant row (others only), or null when
   * there is nothing to offer.
   * @param {Participant} p
   */
  function actionsFor(p) {
    const mod = session.isModerator;
    const priv = session.roomState.private_chat;
    for (const id of actionButtons.keys()) if (!session.participants.has(id)) actionButtons.delete(id);
    if (!mod && !priv) return null;
    const name = shown(p.display_name);
    const key = `p-${p.id}`;
    const existing = actionButtons.get(p.id);
    if (existing) {
      existing.setAttribute('aria-label', t('actions_for', { name }));
      return existing;
    }
    const button = h('button', { type: 'button', class: 'icon-button more', 'aria-haspopup': 'menu',
      'aria-expanded': 'false', 'aria-label': t('actions_for', { name }), dataset: { menu: key } }, icon('more'));
    actionButtons.set(p.id, button);
    button.addEventListener('click', () => {
      // The participant as they are now, not as when the button was made.
      const now = session.participants.get(p.id);
      if (!now) return;
      p = now;
      if (menu?.anchorKey === key) {
        menu.close(true);
        return;
      }
      /** @type {{label: string, action: () => void, danger?: boolean}[]} */
      const items = [];
      if (priv) items.push({ label: t('act_private'), action: () => ctx.privateTo(p.id) });
      if (mod) {
        if (p.mic) items.push({ label: t('act_mute_mic'), action: () => session.moderate({ type: 'mute', id: p.id, source: 'mic' }) });
        else items.push({ label: t('act_ask_mic'), action: () => ask(p, 'mic') });
        if (p.camera) items.push({ label: t('act_mute_camera'), action: () => session.moderate({ type: 'mute', id: p.id, source: 'camera' }) });
        else items.push({ label: t('act_ask_camera'), action: () => ask(p, 'camera') });
        if (!p.moderator) items.push({ label: t('act_make_moderator'), action: () => session.moderate({ type: 'grant_moderator', id: p.id }) });
        items.push({ label: t('act_remove'), danger: true, action: () => {
          removeId = p.id;
          removeDialog.heading.textContent = t('remove_confirm_title', { name });
          removeText.textContent = t('remove_confirm_text', { name });
          removeDialog.open();
        } });
      }
      openMenu(button, key, t('actions_for', { name }), items);
    });
    return button;
  }

  /**
   * @param {Participant} p
   * @param {'mic' | 'camera'} source
   */
  function ask(p, source) {
    session.moderate({ type: 'ask_unmute', id: p.id, source });
    announce(t('asked_unmute', { name: shown(p.display_name) }));
  }

  // ---- what the session tells us -----------------------------------------
  /** @type {Set<string>} */ let knownKnockers = new Set();
  session.on('lobby', (knocking) => {
    const fresh = knocking.filter((p) => !knownKnockers.has(p.id));
    knownKnockers = new Set(knocking.map((p) => p.id));
    for (const p of fresh) {
      const text = t('knock_announce', { name: shown(p.display_name) });
      announce(text, 'assertive');
      ctx.toast(text);
    }
    paint();
    ctx.repaint();
  });
  /** @type {import('./protocol.js').RoomState | null} */ let lastState = null;
  session.on('roomstate', (state) => {
    const before = lastState;
    lastState = state;
    if (before && before.locked !== state.locked) announce(state.locked ? t('room_locked') : t('room_unlocked'));
    if (before && before.lobby !== state.lobby) announce(state.lobby ? t('lobby_on') : t('lobby_off'));
    paint();
    ctx.repaint();
  });
  session.on('muted', ({ source, byName }) => {
    ctx.turnOff(source).catch(() => {});
    const key = source === 'mic' ? 'muted_mic_by' : source === 'camera' ? 'muted_camera_by' : 'muted_screen_by';
    const text = t(key, { name: shown(byName) });
    announce(text, 'assertive');
    ctx.toast(text);
  });
  session.on('unmuterequest', ({ source, byName }) => {
    if (source === 'screen') return;
    askSource = source;
    const name = shown(byName);
    askDialog.heading.textContent = t('unmute_title', { name });
    askText.textContent = t(source === 'mic' ? 'unmute_request_mic' : 'unmute_request_camera', { name });
    askAccept.textContent = t(source === 'mic' ? 'unmute_accept_mic' : 'unmute_accept_camera');
    askDialog.open();
  });
  session.on('moved', (room) => {
    announce(room ? t('moved_to_breakout', { name: room.name }) : t('moved_to_main'), 'assertive');
    paint();
  });
  session.on('breakouts', () => {
    if (breakoutDialog.el.open) paintBreakouts();
  });
  session.on('updated', ({ participant, before }) => {
    if (participant.moderator && !before.moderator) {
      announce(participant.id === session.you?.id ? t('you_are_moderator')
        : t('became_moderator', { name: shown(participant.display_name) }));
      paint();
    }
  });
  session.on('welcome', () => {
    knownKnockers = new Set();
    paint();
  });

  function dispose() {
    menu?.close(false);
    for (const d of [passwordDialog, endDialog, removeDialog, askDialog, breakoutDialog]) d.close();
  }

  return {
    tools,
    lobbyBox,
    badges,
    dialogs: [passwordDialog.el, endDialog.el, removeDialog.el, askDialog.el, breakoutDialog.el],
    actionsFor,
    paint,
    dispose,
  };
}
