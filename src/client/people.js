// @ts-check
// The participant panel of the call: everyone with their microphone,
// camera, screen and hand, who moderates, and (from moderation.js) the
// lobby, the moderator tools and each participant's actions.

import { h, icon, panelHead } from './dom.js';
import { t } from './i18n.js';

/**
 * @typedef {object} PeopleContext
 * @property {import('./protocol.js').Session} session
 * @property {import('./devices.js').LocalDevices} devices
 * @property {() => MediaStreamTrack | null} screen our own screen share
 * @property {() => void} close the panel's close button was pressed
 */

/**
 * @param {keyof typeof import('./dom.js').ICONS} ic
 * @param {string} text
 * @param {boolean} off
 * @param {string} [extra]
 */
function stateIcon(ic, text, off, extra = '') {
  return h('span', { class: `state-icon ${off ? 'off' : ''} ${extra}`, title: text }, icon(ic), h('span', { class: 'sr-only', text }));
}

/** @param {PeopleContext} ctx */
export function createPeople(ctx) {
  const { session, devices } = ctx;
  /** @type {ReturnType<typeof import('./moderation.js').createModeration> | null} */
  let moderation = null;
  const list = h('ul', { class: 'people', id: 'people-list' });
  const heading = h('h2', { id: 'people-heading', tabIndex: -1 });
  const panel = h('aside', { class: 'panel', id: 'people-panel', hidden: true, 'aria-labelledby': 'people-heading' },
    panelHead(heading, t('close_panel'), ctx.close), list);

  function paint() {
    const everyone = [
      ...(session.you ? [{ ...session.you, mic: session.micSending, camera: !!devices.published('camera'),
        screen: !!ctx.screen(), hand: session.handRaised, self: true }] : []),
      ...[...session.participants.values()].map((p) => ({ ...p, self: false })),
    ];
    heading.textContent = t('participants_n', { n: everyone.length });
    moderation?.paint();
    list.replaceChildren(...everyone.map((p) => {
      const name = p.self ? t('you_name', { name: p.display_name || t('anonymous') }) : p.display_name || t('anonymous');
      return h('li', { dataset: { participant: p.self ? 'self' : p.id } },
        h('span', { class: 'name' }, name,
          p.host ? h('span', { class: 'staff-badge', title: t('host_badge_hint'), text: t('host_badge') }) : null,
          p.moderator ? h('span', { class: 'role', text: ` · ${t('moderator')}` }) : null),
        p.self || !moderation ? null : moderation.actionsFor(p),
        h('span', { class: 'states' },
          stateIcon(p.mic ? 'mic' : 'micOff', p.mic ? t('mic_is_on') : t('mic_is_off'), !p.mic),
          stateIcon(p.camera ? 'camera' : 'cameraOff', p.camera ? t('camera_is_on') : t('camera_is_off'), !p.camera),
          p.screen ? stateIcon('screen', t('sharing'), false) : null,
          p.hand ? stateIcon('hand', t('hand_raised'), false, 'hand') : null));
    }));
  }

  return {
    panel,
    paint,
    /**
     * The moderation tools and the lobby head the list; each participant
     * gets their actions.
     * @param {ReturnType<typeof import('./moderation.js').createModeration>} m
     */
    attach(m) {
      moderation = m;
      list.before(m.lobbyBox, m.tools);
    },
    /** @param {boolean} show shows or hides the panel (focus goes to its heading when shown) */
    setOpen(show) {
      panel.hidden = !show;
      if (show) {
        paint();
        heading.focus();
      }
    },
  };
}
