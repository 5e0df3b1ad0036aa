// @ts-check
// The stage of the call: a tile per camera and screen (own and everyone
// else's), the tile grid or the speaker view, pinning, what each tile
// says (name, microphone, hand, quality, speaking), the audio elements of
// the audio slots, and the rendered sizes the server picks simulcast
// layers from (`video_sizes`).

import { append, h, icon } from './dom.js';
import { t } from './i18n.js';

/**
 * @typedef {import('./protocol.js').Quality} Quality
 * @typedef {import('./protocol.js').RemoteTrack} RemoteTrack
 * @typedef {'camera' | 'screen'} VideoSource
 * @typedef {'tiles' | 'speaker'} View
 *
 * @typedef {object} Tile
 * @property {string} key `participant:source`
 * @property {string} participant participant id (`self` for this browser)
 * @property {VideoSource} source
 * @property {HTMLElement} el
 * @property {HTMLVideoElement} video
 * @property {HTMLElement} caption
 * @property {HTMLElement} avatar
 * @property {HTMLButtonElement} pin
 * @property {HTMLElement} note what keeps the video from showing (end-to-end encryption: waiting for the key)
 * @property {string} trackId id of the track shown
 *
 * @typedef {object} StageContext
 * @property {import('./protocol.js').Session} session
 * @property {import('./devices.js').LocalDevices} devices
 * @property {string} displayName the name typed on the pre-join page
 * @property {() => MediaStreamTrack | null} screen our own screen share
 * @property {() => void} viewChanged the view or the pinned tile changed
 */

const SIZE_DEBOUNCE_MS = 250;

/**
 * The worse of two qualities (`unknown` is the best).
 * @param {Quality} a
 * @param {Quality} b
 * @returns {Quality}
 */
export function worstQuality(a, b) {
  const order = ['unknown', 'good', 'fair', 'poor'];
  return /** @type {Quality} */ (order[Math.max(order.indexOf(a), order.indexOf(b))]);
}

/** @param {string} name */
function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : parts;
  return letters.map((p) => [...p][0]?.toUpperCase() ?? '').join('') || '?';
}

/** @param {StageContext} ctx */
export function createStage(ctx) {
  const { session, devices } = ctx;
  /** @type {View} */ let view = 'tiles';
  /** @type {string | null} */ let pinned = null;
  /** Quality of our own connection as this browser measures it. @type {Quality} */
  let ownQuality = 'unknown';
  /** @type {Map<string, Tile>} */
  const tiles = new Map();
  /** @type {Map<string, HTMLAudioElement>} */
  const audios = new Map();

  const el = h('section', { class: 'stage tiles', id: 'stage', 'aria-label': t('videos') });
  const main = h('div', { class: 'main-tile' });
  const strip = h('div', { class: 'filmstrip' });
  el.append(main, strip);
  const audioBox = h('div', { hidden: true });

  /**
   * @param {string} participant
   * @param {VideoSource} source
   * @returns {Tile}
   */
  function ensureTile(participant, source) {
    const key = `${participant}:${source}`;
    const existing = tiles.get(key);
    if (existing) return existing;
    const video = h('video', { autoplay: true, playsInline: true, muted: true, disablePictureInPicture: true });
    video.muted = true;
    const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
    const caption = h('figcaption', {});
    const note = h('p', { class: 'tile-note' });
    const pin = h('button', { type: 'button', class: 'pin icon-button', 'aria-pressed': 'false',
      on: { click: () => togglePin(key) } }, icon('pin'));
    const tileEl = h('figure', { class: `tile ${source}`, dataset: { key, participant, source } }, video, avatar, note, caption, pin);
    /** @type {Tile} */
    const tile = { key, participant, source, el: tileEl, video, caption, avatar, pin, note, trackId: '' };
    tiles.set(key, tile);
    return tile;
  }

  /**
   * @param {Tile} tile
   * @param {MediaStreamTrack | null} track
   */
  function setTileTrack(tile, track) {
    const id = track ? track.id : '';
    if (tile.trackId === id) return;
    tile.trackId = id;
    tile.video.srcObject = track ? new MediaStream([track]) : null;
    if (track) tile.video.play().catch(() => {});
  }

  /** @param {string} id */
  function personOf(id) {
    if (id === 'self') return session.you ?? null;
    return session.participants.get(id) ?? null;
  }

  /** Rebuilds the set of tiles from participants and tracks, then lays them out. */
  function paint() {
    /** @type {Set<string>} */
    const wanted = new Set();
    // Own camera (mirrored) and own screen.
    const self = ensureTile('self', 'camera');
    setTileTrack(self, devices.published('camera'));
    self.video.classList.add('mirrored');
    wanted.add(self.key);
    const screen = ctx.screen();
    if (screen) {
      const s = ensureTile('self', 'screen');
      setTileTrack(s, screen);
      wanted.add(s.key);
    }
    /** @type {Map<string, MediaStreamTrack>} */
    const videoTracks = new Map();
    for (const rt of session.remoteTracks.values()) {
      if (rt.source !== 'mic') videoTracks.set(`${rt.participant}:${rt.source}`, rt.track);
    }
    for (const p of session.participants.values()) {
      const cam = ensureTile(p.id, 'camera');
      setTileTrack(cam, videoTracks.get(cam.key) ?? null);
      wanted.add(cam.key);
      if (p.screen || videoTracks.has(`${p.id}:screen`)) {
        const s = ensureTile(p.id, 'screen');
        setTileTrack(s, videoTracks.get(s.key) ?? null);
        wanted.add(s.key);
      }
    }
    for (const [key, tile] of tiles) {
      if (!wanted.has(key)) {
        tile.video.srcObject = null;
        tile.el.remove();
        tiles.delete(key);
        if (pinned === key) pinned = null;
      }
    }
    layout();
  }

  /** @param {Tile} tile */
  function paintCaption(tile) {
    const p = personOf(tile.participant);
    const isSelf = tile.participant === 'self';
    const name = p ? p.display_name || t('anonymous') : isSelf ? ctx.displayName : '';
    const shownName = isSelf ? t('you_name', { name: name || t('anonymous') }) : name;
    const camOn = tile.source === 'screen' ? true : isSelf ? !!devices.published('camera') : !!p?.camera;
    // End-to-end encrypted: someone whose frames do not decrypt here (yet)
    // is shown waiting for the key; their frames are dropped, never shown.
    const e2ee = session.e2eeStatus;
    const keyState = !isSelf && e2ee.on ? e2ee.peers[tile.participant] ?? 'waiting' : 'ok';
    const waitingKey = keyState !== 'ok' && camOn;
    tile.el.classList.toggle('key-waiting', waitingKey);
    if (e2ee.on && !isSelf) tile.el.dataset.e2ee = keyState;
    tile.note.textContent = waitingKey ? t(keyState === 'untrusted' ? 'e2ee_untrusted_peer' : 'e2ee_waiting_key') : '';
    const hasVideo = camOn && !!tile.trackId && !waitingKey;
    tile.el.classList.toggle('no-video', !hasVideo);
    tile.avatar.textContent = tile.source === 'screen' ? '' : initials(name || '?');
    const micOn = isSelf ? session.micSending : !!p?.mic;
    const hand = isSelf ? session.handRaised : !!p?.hand;
    const q = isSelf ? worstQuality(session.you?.quality ?? 'unknown', ownQuality) : p?.quality ?? 'unknown';
    const speaking = !!session.activeSpeaker && (isSelf ? session.you?.id : tile.participant) === session.activeSpeaker;
    tile.el.classList.toggle('speaking', speaking && tile.source === 'camera');
    const label = tile.source === 'screen' ? t('screen_of', { name: shownName }) : shownName;
    // A logged-in host (staff) is marked, so that a guest who takes the
    // therapist's name does not look like them: in the tile's accessible
    // name and as a badge beside the name, as in the participant list.
    const staff = !!p?.host;
    tile.el.setAttribute('aria-label', staff ? t('tile_staff', { name: label }) : label);
    tile.el.classList.toggle('staff', staff);
    tile.caption.replaceChildren();
    append(tile.caption, [
      tile.source === 'camera' ? h('span', { class: `badge mic ${micOn ? 'on' : 'off'}`, title: micOn ? t('mic_is_on') : t('mic_is_off') },
        icon(micOn ? 'mic' : 'micOff'), h('span', { class: 'sr-only', text: micOn ? t('mic_is_on') : t('mic_is_off') })) : null,
      h('span', { class: 'name', text: label }),
      staff ? h('span', { class: 'staff-badge', title: t('host_badge_hint'), text: t('host_badge') }) : null,
      hand && tile.source === 'camera' ? h('span', { class: 'badge hand', title: t('hand_raised') }, icon('hand'),
        h('span', { class: 'sr-only', text: t('hand_raised') })) : null,
      tile.source === 'camera' ? h('span', { class: `badge quality q-${q}`, title: t(`quality_${q}`) }, icon('signal'),
        h('span', { class: 'sr-only', text: t(`quality_${q}`) })) : null,
    ]);
    tile.pin.setAttribute('aria-label', t(pinned === tile.key ? 'unpin' : 'pin', { name: label }));
    tile.pin.setAttribute('aria-pressed', String(pinned === tile.key));
  }

  /** The tile the speaker view shows large. @returns {Tile | undefined} */
  function mainTile() {
    if (pinned && tiles.has(pinned)) return tiles.get(pinned);
    const remoteScreen = [...tiles.values()].find((x) => x.source === 'screen' && x.participant !== 'self');
    if (remoteScreen) return remoteScreen;
    if (session.activeSpeaker && session.activeSpeaker !== session.you?.id) {
      const s = tiles.get(`${session.activeSpeaker}:camera`);
      if (s) return s;
    }
    return [...tiles.values()].find((x) => x.participant !== 'self') ?? tiles.get('self:camera');
  }

  function layout() {
    const all = [...tiles.values()];
    const useSpeaker = view === 'speaker' || !!pinned;
    el.classList.toggle('speaker', useSpeaker);
    el.classList.toggle('tiles', !useSpeaker);
    if (useSpeaker) {
      const big = mainTile();
      if (big && big.el.parentElement !== main) main.replaceChildren(big.el);
      for (const tile of all) {
        if (tile !== big && tile.el.parentElement !== strip) strip.append(tile.el);
      }
    } else {
      main.replaceChildren();
      for (const tile of all) if (tile.el.parentElement !== strip) strip.append(tile.el);
      const n = all.length;
      // The stage's own box (not the grid's, which grows with its tiles).
      const cs = getComputedStyle(el);
      const box = {
        width: el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight),
        height: el.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom),
      };
      let best = { cols: 1, width: 0 };
      for (let cols = 1; cols <= n; cols++) {
        const rows = Math.ceil(n / cols);
        const gap = 8;
        const w = Math.min((box.width - gap * (cols - 1)) / cols, ((box.height - gap * (rows - 1)) / rows) * (16 / 9));
        if (w > best.width) best = { cols, width: w };
      }
      strip.style.setProperty('--cols', String(best.cols));
      strip.style.setProperty('--tile-width', `${Math.max(96, Math.floor(best.width))}px`);
    }
    for (const tile of all) paintCaption(tile);
    scheduleSizes();
  }

  /** @param {string} key */
  function togglePin(key) {
    pinned = pinned === key ? null : key;
    if (pinned) view = 'speaker';
    ctx.viewChanged();
    layout();
    tiles.get(key)?.pin.focus();
  }

  /** @param {View} next */
  function setView(next) {
    view = next;
    if (next === 'tiles') pinned = null;
    ctx.viewChanged();
    layout();
  }

  // ---- video sizes for simulcast ---------------------------------------
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let sizeTimer;
  function scheduleSizes() {
    clearTimeout(sizeTimer);
    sizeTimer = setTimeout(reportSizes, SIZE_DEBOUNCE_MS);
  }
  function reportSizes() {
    const dpr = window.devicePixelRatio || 1;
    /** @type {import('./protocol.js').VideoSize[]} */
    const sizes = [];
    for (const tile of tiles.values()) {
      if (tile.participant === 'self') continue;
      const visible = tile.el.isConnected && !document.hidden && tile.el.getClientRects().length > 0;
      const w = visible ? Math.round(tile.video.clientWidth * dpr) : 0;
      const hgt = visible ? Math.round(tile.video.clientHeight * dpr) : 0;
      sizes.push({ participant: tile.participant, source: tile.source, width: w, height: hgt });
    }
    sizes.sort((a, b) => (a.participant + a.source).localeCompare(b.participant + b.source));
    session.sendVideoSizes(sizes);
  }
  const resizeObserver = new ResizeObserver(() => {
    if (view === 'tiles' && !pinned) layout();
    else scheduleSizes();
  });
  resizeObserver.observe(el);
  document.addEventListener('visibilitychange', scheduleSizes);

  // ---- audio -------------------------------------------------------------
  /**
   * Plays the remote audio tracks: one element per audio slot (or direct
   * call track), kept while the slot exists.
   * @param {RemoteTrack[]} list
   */
  function playAudio(list) {
    const wanted = new Set();
    for (const rt of list) {
      if (rt.source !== 'mic') continue;
      wanted.add(rt.mid);
      let a = audios.get(rt.mid);
      if (!a) {
        a = h('audio', { autoplay: true, dataset: { mid: rt.mid } });
        audios.set(rt.mid, a);
        audioBox.append(a);
      }
      // An audio slot keeps its element (and keeps playing) when the
      // person heard on it changes; only the label follows.
      a.dataset.participant = rt.participant ?? '';
      const current = a.srcObject instanceof MediaStream ? a.srcObject.getTracks()[0] : null;
      if (current !== rt.track) {
        a.srcObject = new MediaStream([rt.track]);
        a.play().catch(() => {});
      }
    }
    for (const [mid, a] of audios) {
      if (!wanted.has(mid)) {
        a.srcObject = null;
        a.remove();
        audios.delete(mid);
      }
    }
  }

  return {
    el,
    audioBox,
    paint,
    layout,
    playAudio,
    /** @returns {View} */
    get view() {
      return view;
    },
    get pinned() {
      return pinned;
    },
    setView,
    /** The active speaker changed: the speaker view follows unless pinned. */
    speakerChanged() {
      if (view === 'speaker' && !pinned) layout();
      else for (const tile of tiles.values()) paintCaption(tile);
    },
    /** @param {Quality} q our own connection's quality as measured here */
    setOwnQuality(q) {
      ownQuality = q;
      const self = tiles.get('self:camera');
      if (self) paintCaption(self);
    },
    dispose() {
      clearTimeout(sizeTimer);
      resizeObserver.disconnect();
      document.removeEventListener('visibilitychange', scheduleSizes);
      for (const a of audios.values()) a.srcObject = null;
    },
  };
}
