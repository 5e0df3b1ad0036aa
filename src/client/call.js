// @ts-check
// The call: tiles or speaker view, controls, chat, participant list,
// keyboard shortcuts, connection status and quality. All signalling and
// media plumbing is in protocol.js; this module only shows it.

import { announce, append, h, icon, isTyping, showPage } from './dom.js';
import { problemText, t } from './i18n.js';
import { MAX_CHAT_CHARS, Session, qualityFromStats } from './protocol.js';
import { createGate } from './gate.js';
import { createModeration } from './moderation.js';

/**
 * @typedef {import('./protocol.js').Participant} Participant
 * @typedef {import('./protocol.js').RemoteTrack} RemoteTrack
 * @typedef {import('./protocol.js').Quality} Quality
 * @typedef {'camera' | 'screen'} VideoSource
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
 * @property {string} trackId id of the track shown
 */

const SIZE_DEBOUNCE_MS = 250;
const STATS_INTERVAL_MS = 2000;

/**
 * @param {import('./app.js').App} app
 * @param {string} room
 * @param {{displayName: string, devices: import('./devices.js').LocalDevices}} media
 *   `devices`: camera and microphone, open or still opening (published once open)
 */
export function renderCall(app, room, media) {
  document.body.classList.add('in-call');
  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  const session = new Session({ url: wsUrl, room, displayName: media.displayName });
  /** For tests and support: the live session and devices. */
  /** @type {any} */ (window).kabineDebug = { session, devices: media.devices };

  let view = /** @type {'tiles' | 'speaker'} */ ('tiles');
  /** @type {string | null} */ let pinned = null;
  let chatOpen = false;
  let peopleOpen = false;
  let unread = 0;
  let pushToTalk = false;
  let ended = false;
  /** @type {Quality} */ let ownStatsQuality = 'unknown';
  const statsTotals = { lost: 0, received: 0 };
  /** @type {Map<string, Tile>} */
  const tiles = new Map();
  /** @type {Map<string, HTMLAudioElement>} */
  const audios = new Map();

  // ---- structure -------------------------------------------------------
  const statusLine = h('p', { class: 'status', role: 'status', id: 'call-status' });
  const retryButton = h('button', { type: 'button', class: 'secondary small', hidden: true, text: t('retry_now') });
  const countdown = h('span', { class: 'countdown', 'aria-hidden': 'true' });
  const banner = h('div', { class: 'banner', hidden: true }, statusLine, countdown, retryButton);
  const quality = h('p', { class: 'quality', id: 'own-quality' });
  // How media travels: in words, not only a colour (WCAG 1.4.1).
  const modeLine = h('p', { class: 'mode server', id: 'call-mode', hidden: true });
  const countLine = h('p', { class: 'count', id: 'participant-count' });
  const stage = h('section', { class: 'stage tiles', id: 'stage', 'aria-label': t('videos') });
  const main = h('div', { class: 'main-tile' });
  const strip = h('div', { class: 'filmstrip' });
  stage.append(main, strip);
  const audioBox = h('div', { hidden: true });
  const toast = h('div', { class: 'toast', role: 'alert', id: 'toast' });
  // What we publish does not reach the server (health.js): said until it does.
  const mediaProblemText = h('span', { id: 'media-problem-text' });
  const mediaProblem = h('div', { class: 'media-problem', id: 'media-problem', role: 'alert', hidden: true },
    mediaProblemText,
    h('button', { type: 'button', class: 'secondary small', id: 'media-retry', text: t('media_retry'),
      on: { click: () => session.retryMedia() } }));
  // While camera or microphone are still opening after "Join".
  const deviceNote = h('p', { class: 'device-note', role: 'status', id: 'device-note', hidden: true,
    text: t('devices_starting') });

  const chatLog = h('ol', { class: 'chat-list', id: 'chat-log' });
  const chatLogBox = h('div', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': t('chat_messages') },
    chatLog);
  const chatInput = h('textarea', { id: 'chat-input', rows: 2, maxLength: MAX_CHAT_CHARS,
    placeholder: t('chat_placeholder') });
  // Recipient: everyone, or one participant (private chat, when allowed).
  const chatTo = h('select', { id: 'chat-to', on: { change: () => paintChatTo() } });
  const chatToField = h('div', { class: 'chat-to', hidden: true },
    h('label', { for: 'chat-to', text: t('chat_to') }), chatTo);
  const chatForm = h('form', { class: 'chat-form', on: { submit: (/** @type {Event} */ e) => {
    e.preventDefault();
    sendChat();
  } } },
  chatToField,
  h('label', { for: 'chat-input', class: 'sr-only', id: 'chat-input-label', text: t('chat_input_label') }),
  chatInput,
  h('button', { type: 'submit', class: 'primary small', text: t('send') }));
  chatInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      sendChat();
    }
  });
  const chatEmpty = h('p', { class: 'empty', text: t('chat_empty') });
  const chatPanel = h('aside', { class: 'panel', id: 'chat-panel', hidden: true, 'aria-labelledby': 'chat-heading' },
    panelHeader('chat-heading', t('chat'), () => toggleChat(false)), chatEmpty, chatLogBox, chatForm);
  const peopleList = h('ul', { class: 'people', id: 'people-list' });
  const peopleHeading = h('h2', { id: 'people-heading', tabIndex: -1 });
  const peoplePanel = h('aside', { class: 'panel', id: 'people-panel', hidden: true,
    'aria-labelledby': 'people-heading' },
  h('div', { class: 'panel-head' }, peopleHeading, closeButton(() => togglePeople(false))), peopleList);
  /** Fills the chat's recipient list; hidden when private chat is off. */
  function paintChatTo() {
    const allowed = session.roomState.private_chat && session.participants.size > 0;
    const keep = chatTo.value;
    chatTo.replaceChildren(h('option', { value: '', text: t('chat_everyone') }),
      ...[...session.participants.values()].map((p) => h('option', { value: p.id, text: p.display_name || t('anonymous') })));
    chatTo.value = allowed && session.participants.has(keep) ? keep : '';
    chatToField.hidden = !allowed;
    const to = chatTo.value ? session.participants.get(chatTo.value) : null;
    const label = to ? t('chat_input_private', { name: to.display_name || t('anonymous') }) : t('chat_input_label');
    chatInput.placeholder = label;
    const lab = document.getElementById('chat-input-label');
    if (lab) lab.textContent = label;
  }

  /**
   * @param {string} id
   * @param {string} title
   * @param {() => void} close
   */
  function panelHeader(id, title, close) {
    return h('div', { class: 'panel-head' }, h('h2', { id, text: title, tabIndex: -1 }), closeButton(close));
  }
  /** @param {() => void} close */
  function closeButton(close) {
    return h('button', { type: 'button', class: 'icon-button', 'aria-label': t('close_panel'), on: { click: close } },
      icon('close'));
  }

  /**
   * A toolbar button with a fixed accessible name, a visible state and a shortcut.
   * @param {string} id
   * @param {string} label
   * @param {string} key
   * @param {() => void} action
   */
  function control(id, label, key, action) {
    const b = h('button', { type: 'button', class: 'control', id, 'aria-keyshortcuts': key,
      title: `${label} (${key === 'Space' ? t('key_space') : key})`, on: { click: action } });
    return b;
  }
  const micButton = control('ctl-mic', t('microphone'), 'M', () => toggleMic());
  const camButton = control('ctl-camera', t('camera'), 'V', () => toggleCamera());
  const screenButton = control('ctl-screen', t('share_screen'), 'D', () => toggleScreen());
  const handButton = control('ctl-hand', t('raise_hand'), 'R', () => toggleHand());
  const chatButton = control('ctl-chat', t('chat'), 'C', () => toggleChat(!chatOpen));
  const peopleButton = control('ctl-people', t('participants'), '', () => togglePeople(!peopleOpen));
  peopleButton.removeAttribute('aria-keyshortcuts');
  peopleButton.title = t('participants');
  const viewButton = control('ctl-view', t('speaker_view'), 'T', () => setView(view === 'tiles' ? 'speaker' : 'tiles'));
  const helpButton = control('ctl-help', t('shortcuts_short'), '?', () => openHelp());
  const leaveButton = h('button', { type: 'button', class: 'control leave', id: 'ctl-leave', on: { click: () => leave() } },
    icon('leave'), h('span', { class: 'label', text: t('leave') }));

  const helpDialog = buildHelp();

  // Waiting for the host, the lobby, the room password (before `welcome`).
  const gate = createGate({ session, onLeave: () => leave() });
  // Moderation, and what participants see of it.
  const moderation = createModeration({
    session,
    toast: (text) => showToast(text),
    repaint: () => {
      paintPeople();
      paintChatTo();
    },
    openPeople: () => {
      if (!peopleOpen) togglePeople(true);
    },
    privateTo: (id) => {
      paintChatTo();
      chatTo.value = id;
      paintChatTo();
      toggleChat(true);
    },
    turnOff: async (source) => {
      if (source === 'screen') {
        if (screen) stopScreen();
      } else {
        await devices.set(source, false);
      }
    },
    turnOn: async (source) => {
      if (devices.state(source) !== 'on') await devices.set(source, true);
    },
  });
  // The lobby and the moderator tools head the participant list.
  peopleList.before(moderation.lobbyBox, moderation.tools);

  const toolbar = h('div', { class: 'toolbar', role: 'group', 'aria-label': t('controls') },
    h('div', { class: 'toolbar-group' }, micButton, camButton, screenButton),
    h('div', { class: 'toolbar-group' }, handButton, chatButton, peopleButton, viewButton, helpButton),
    h('div', { class: 'toolbar-group' }, leaveButton));

  showPage(app.root, t('call_title_doc', { room, app: app.config.app_name }),
    h('div', { class: 'call' },
      h('header', { class: 'callbar' },
        h('a', { class: 'brand small', href: '/', 'aria-label': t('home_link', { app: app.config.app_name }),
          on: { click: (/** @type {Event} */ e) => {
            e.preventDefault();
            if (confirmLeave()) leave('/');
          } } },
        h('img', { src: '/api/logo', alt: '', class: 'logo', width: 24, height: 24 })),
        h('h1', { class: 'room-title' }, h('span', { class: 'sr-only', text: t('in_meeting') + ' ' }), room),
        moderation.badges, countLine, modeLine, quality),
      banner,
      h('div', { class: 'call-body' }, gate.el, stage, chatPanel, peoplePanel),
      mediaProblem, deviceNote, toolbar, toast, audioBox, helpDialog, moderation.dialogs));
  const callRoot = /** @type {HTMLElement} */ (app.root.querySelector('.call'));

  // ---- local media -----------------------------------------------------
  // Camera and microphone may still be opening: the call starts at once and
  // each track is published the moment it exists (replaceTrack on the
  // m-lines the publish connection always has: no renegotiation).
  const devices = media.devices;
  /** @type {MediaStreamTrack | null} */ let screen = null;
  /** Problems already told, so a repaint does not repeat them. */
  const told = { camera: devices.camera.problem, mic: devices.mic.problem };

  /** @param {Event} e */
  function onDevices(e) {
    const kind = /** @type {CustomEvent<'camera' | 'mic'>} */ (e).detail;
    session.mark(`${kind} ${devices.state(kind)}`);
    if (kind === 'camera') {
      const track = devices.published('camera');
      if (session.cameraTrack !== track) session.setCameraTrack(track).catch(() => {});
    } else {
      session.setMic(devices.mic.track, devices.mic.want).catch(() => {});
    }
    const problem = devices[kind].problem;
    if (problem && problem !== told[kind]) showToast(problemText(problem, kind));
    told[kind] = problem;
    if (!devices.starting && deviceNote.hidden === false) announce(deviceSummary());
    paintControls();
    paintTiles();
    paintPeople();
  }
  devices.addEventListener('change', onDevices);
  session.start({ mic: devices.mic.track, camera: devices.published('camera'), micOn: devices.mic.want });

  /** What the person's own camera and microphone do now, in words. */
  function deviceSummary() {
    return `${t(devices.state('mic') === 'on' ? 'mic_is_on' : 'mic_is_off')}, ${t(devices.state('camera') === 'on' ? 'camera_is_on' : 'camera_is_off')}`;
  }

  // ---- painting --------------------------------------------------------
  function paintControls() {
    for (const [button, kind, label, icons] of /** @type {const} */ ([
      [micButton, 'mic', t('microphone'), ['mic', 'micOff']], [camButton, 'camera', t('camera'), ['camera', 'cameraOff']]])) {
      const state = devices.state(kind);
      const on = state === 'on';
      const starting = state === 'starting';
      const text = starting ? t('state_starting') : on ? t('state_on') : t('state_off');
      setControl(button, on || starting ? icons[0] : icons[1], label, text, on || starting, !on && !starting);
      button.setAttribute('aria-busy', String(starting));
      button.classList.toggle('starting', starting);
      button.title = `${label} (${kind === 'mic' ? 'M' : 'V'})${devices[kind].problem ? ` – ${problemText(devices[kind].problem, kind)}` : ''}`;
    }
    deviceNote.hidden = !devices.starting;
    setControl(screenButton, 'screen', t('share_screen'), screen ? t('state_sharing') : '', !!screen, false);
    setControl(handButton, 'hand', t('raise_hand'), session.handRaised ? t('state_raised') : '', session.handRaised, false);
    setControl(chatButton, 'chat', t('chat'), unread ? String(unread) : '', chatOpen, false);
    if (unread) chatButton.setAttribute('aria-description', t('unread', { n: unread }));
    else chatButton.removeAttribute('aria-description');
    setControl(peopleButton, 'people', t('participants'), String(session.participants.size + 1), peopleOpen, false);
    setControl(viewButton, view === 'tiles' ? 'speaker' : 'grid', t('speaker_view'), '', view === 'speaker', false);
    setControl(helpButton, 'help', t('shortcuts_short'), '', null, false);
    countLine.textContent = t('count', { n: session.participants.size + 1 });
    paintMode();
  }

  /** Shows whether media goes directly (end-to-end encrypted) or via the server. */
  function paintMode() {
    const direct = session.mode === 'direct';
    modeLine.hidden = session.participants.size === 0 || session.state !== 'joined';
    modeLine.className = `mode ${direct ? 'direct' : 'server'}`;
    modeLine.dataset.mode = session.mode;
    modeLine.title = t(direct ? 'mode_direct_hint' : 'mode_server_hint');
    modeLine.replaceChildren(icon(direct ? 'lock' : 'server'), h('span', { text: t(direct ? 'mode_direct' : 'mode_server') }));
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {keyof typeof import('./dom.js').ICONS} ic
   * @param {string} label
   * @param {string} state visible state text (not part of the accessible name)
   * @param {boolean | null} pressed
   * @param {boolean} warn
   */
  function setControl(b, ic, label, state, pressed, warn) {
    b.replaceChildren(icon(ic), h('span', { class: 'label', text: label }));
    if (state) b.append(h('span', { class: 'state', 'aria-hidden': 'true', text: state }));
    if (pressed !== null) b.setAttribute('aria-pressed', String(pressed));
    b.classList.toggle('off', warn);
  }

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
    const pin = h('button', { type: 'button', class: 'pin icon-button', 'aria-pressed': 'false',
      on: { click: () => togglePin(key) } }, icon('pin'));
    const el = h('figure', { class: `tile ${source}`, dataset: { key, participant, source } }, video, avatar, caption, pin);
    /** @type {Tile} */
    const tile = { key, participant, source, el, video, caption, avatar, pin, trackId: '' };
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

  /** @param {string} name */
  function initials(name) {
    const parts = name.trim().split(/\s+/).filter(Boolean);
    const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : parts;
    return letters.map((p) => [...p][0]?.toUpperCase() ?? '').join('') || '?';
  }

  /** Rebuilds the set of tiles from participants and tracks, then lays them out. */
  function paintTiles() {
    /** @type {Set<string>} */
    const wanted = new Set();
    // Own camera (mirrored) and own screen.
    const self = ensureTile('self', 'camera');
    setTileTrack(self, devices.published('camera'));
    self.video.classList.add('mirrored');
    wanted.add(self.key);
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
    for (const tile of tiles.values()) paintCaption(tile);
    layout();
  }

  /** @param {Tile} tile */
  function paintCaption(tile) {
    const p = personOf(tile.participant);
    const isSelf = tile.participant === 'self';
    const name = p ? p.display_name || t('anonymous') : isSelf ? media.displayName : '';
    const shownName = isSelf ? t('you_name', { name: name || t('anonymous') }) : name;
    const camOn = tile.source === 'screen' ? true : isSelf ? !!devices.published('camera') : !!p?.camera;
    const hasVideo = camOn && !!tile.trackId;
    tile.el.classList.toggle('no-video', !hasVideo);
    tile.avatar.textContent = tile.source === 'screen' ? '' : initials(name || '?');
    const micOn = isSelf ? session.micOn && !!session.micTrack : !!p?.mic;
    const hand = isSelf ? session.handRaised : !!p?.hand;
    const q = isSelf ? worstQuality(session.you?.quality ?? 'unknown', ownStatsQuality) : p?.quality ?? 'unknown';
    const speaking = !!session.activeSpeaker && (isSelf ? session.you?.id : tile.participant) === session.activeSpeaker;
    tile.el.classList.toggle('speaking', speaking && tile.source === 'camera');
    const label = tile.source === 'screen' ? t('screen_of', { name: shownName }) : shownName;
    tile.el.setAttribute('aria-label', label);
    tile.caption.replaceChildren();
    append(tile.caption, [
      tile.source === 'camera' ? h('span', { class: `badge mic ${micOn ? 'on' : 'off'}`, title: micOn ? t('mic_is_on') : t('mic_is_off') },
        icon(micOn ? 'mic' : 'micOff'), h('span', { class: 'sr-only', text: micOn ? t('mic_is_on') : t('mic_is_off') })) : null,
      h('span', { class: 'name', text: label }),
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
    stage.classList.toggle('speaker', useSpeaker);
    stage.classList.toggle('tiles', !useSpeaker);
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
      const cs = getComputedStyle(stage);
      const box = {
        width: stage.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight),
        height: stage.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom),
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
    paintControls();
    layout();
    const tile = tiles.get(key);
    tile?.pin.focus();
  }

  /** @param {'tiles' | 'speaker'} next */
  function setView(next) {
    view = next;
    if (next === 'tiles') pinned = null;
    paintControls();
    layout();
    announce(next === 'tiles' ? t('view_tiles_now') : t('view_speaker_now'));
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
  resizeObserver.observe(stage);
  document.addEventListener('visibilitychange', scheduleSizes);

  // ---- actions ---------------------------------------------------------
  /**
   * Turns the microphone or camera on (opening it when needed; a failed one
   * is tried again) or off. What happens is announced once it happened.
   * @param {'mic' | 'camera'} kind
   */
  async function toggleDevice(kind) {
    const state = devices.state(kind);
    const on = state === 'off' || state === 'failed';
    await devices.set(kind, on);
    const now = devices.state(kind);
    if (now === 'on') announce(t(`${kind}_is_on`));
    else if (now === 'off') announce(t(`${kind}_is_off`));
    else if (now === 'starting') announce(t(`${kind}_starting`));
  }
  const toggleMic = () => toggleDevice('mic');
  const toggleCamera = () => toggleDevice('camera');

  async function toggleScreen() {
    if (screen) {
      stopScreen();
      return;
    }
    if (!navigator.mediaDevices?.getDisplayMedia) {
      showToast(t('screen_unsupported'));
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
      const track = stream.getVideoTracks()[0];
      if (!track) return;
      track.contentHint = 'detail';
      track.addEventListener('ended', () => {
        if (screen === track) stopScreen();
      });
      screen = track;
      await session.setScreenTrack(track);
      announce(t('screen_started'));
    } catch (err) {
      const name = err instanceof Error || err instanceof DOMException ? err.name : '';
      if (name !== 'NotAllowedError' && name !== 'AbortError') showToast(t('screen_failed'));
    }
    paintControls();
    paintTiles();
  }

  function stopScreen() {
    screen?.stop();
    screen = null;
    session.setScreenTrack(null).catch(() => {});
    announce(t('screen_stopped'));
    paintControls();
    paintTiles();
  }

  function toggleHand() {
    session.setHand(!session.handRaised);
    announce(session.handRaised ? t('hand_you_raised') : t('hand_you_lowered'));
    paintControls();
    paintTiles();
    paintPeople();
  }

  /** @param {boolean} open */
  function toggleChat(open) {
    chatOpen = open;
    if (open) {
      peopleOpen = false;
      unread = 0;
    }
    chatPanel.hidden = !chatOpen;
    peoplePanel.hidden = !peopleOpen;
    paintControls();
    if (open) chatInput.focus();
    else chatButton.focus();
    layout();
  }

  /** @param {boolean} open */
  function togglePeople(open) {
    peopleOpen = open;
    if (open) chatOpen = false;
    chatPanel.hidden = !chatOpen;
    peoplePanel.hidden = !peopleOpen;
    paintControls();
    paintPeople();
    if (open) peopleHeading.focus();
    else peopleButton.focus();
    layout();
  }

  function sendChat() {
    const text = chatInput.value;
    if (!text.trim()) return;
    const to = chatTo.value;
    if (!(to ? session.sendPrivateChat(to, text) : session.sendChat(text))) {
      showToast(session.state === 'joined' ? t('err_chat_rejected') : t('chat_offline'));
      return;
    }
    // Shown when the server relays it back to everyone, sender included:
    // what appears is what the others got.
    chatInput.value = '';
  }

  /**
   * @param {import('./protocol.js').ChatMessage} m
   * @param {boolean} own
   */
  function addChat(m, own) {
    const { from, from_name: name, text, ts } = m;
    const time = new Date(ts).toLocaleTimeString(document.documentElement.lang, { hour: '2-digit', minute: '2-digit' });
    chatEmpty.hidden = true;
    let note = '';
    if (m.broadcast) note = t('broadcast_badge');
    else if (m.to && own) note = t('private_to', { name: session.participants.get(m.to)?.display_name || t('anonymous') });
    else if (m.to) note = t('private_from');
    const kind = m.broadcast ? 'broadcast' : m.to ? 'private' : '';
    chatLog.append(h('li', { class: `${own ? 'own' : ''} ${kind}`, dataset: { from } },
      h('p', { class: 'meta' }, h('span', { class: 'from', text: own ? t('you') : name || t('anonymous') }),
        note ? h('span', { class: 'note', text: ` (${note})` }) : null, ' ',
        h('time', { dateTime: new Date(ts).toISOString(), text: time })),
      h('p', { class: 'text', text })));
    chatLogBox.scrollTop = chatLogBox.scrollHeight;
    if (m.broadcast && !own) {
      const said = t('broadcast_from', { name: name || t('anonymous'), text });
      announce(said, 'assertive');
      showToast(said);
    } else if (!own && !chatOpen) {
      announce(t('chat_from', { name: name || t('anonymous'), text }));
    }
    if (!own && !chatOpen) {
      unread++;
      paintControls();
    }
  }

  function paintPeople() {
    const everyone = [
      ...(session.you ? [{ ...session.you, mic: session.micOn && !!session.micTrack, camera: !!devices.published('camera'),
        screen: !!screen, hand: session.handRaised, self: true }] : []),
      ...[...session.participants.values()].map((p) => ({ ...p, self: false })),
    ];
    peopleHeading.textContent = t('participants_n', { n: everyone.length });
    moderation.paint();
    peopleList.replaceChildren(...everyone.map((p) => {
      const name = p.self ? t('you_name', { name: p.display_name || t('anonymous') }) : p.display_name || t('anonymous');
      return h('li', { dataset: { participant: p.self ? 'self' : p.id } },
        h('span', { class: 'name' }, name,
          p.moderator ? h('span', { class: 'role', text: ` · ${t('moderator')}` }) : null),
        p.self ? null : moderation.actionsFor(p),
        h('span', { class: 'states' },
          stateIcon(p.mic ? 'mic' : 'micOff', p.mic ? t('mic_is_on') : t('mic_is_off'), !p.mic),
          stateIcon(p.camera ? 'camera' : 'cameraOff', p.camera ? t('camera_is_on') : t('camera_is_off'), !p.camera),
          p.screen ? stateIcon('screen', t('sharing'), false) : null,
          p.hand ? stateIcon('hand', t('hand_raised'), false, 'hand') : null));
    }));
  }

  /**
   * @param {keyof typeof import('./dom.js').ICONS} ic
   * @param {string} text
   * @param {boolean} off
   * @param {string} [extra]
   */
  function stateIcon(ic, text, off, extra = '') {
    return h('span', { class: `state-icon ${off ? 'off' : ''} ${extra}`, title: text }, icon(ic),
      h('span', { class: 'sr-only', text }));
  }

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let toastTimer;
  /** @param {string} text */
  function showToast(text) {
    toast.textContent = text;
    toast.classList.add('visible');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      toast.classList.remove('visible');
      toast.textContent = '';
    }, 8000);
  }

  function confirmLeave() {
    return true;
  }

  /** @param {string} [to] where to go afterwards ('' = the "you left" page) */
  async function leave(to = '') {
    if (ended) return;
    ended = true;
    cleanup();
    await session.leave();
    stopLocal();
    if (to) app.navigate(to);
    else renderEnded(t('left_title'), t('left_text'), true);
  }

  function stopLocal() {
    devices.dispose();
    screen?.stop();
    screen = null;
  }

  function cleanup() {
    moderation.dispose();
    gate.hide();
    clearInterval(statsTimer);
    clearInterval(countdownTimer);
    clearTimeout(sizeTimer);
    resizeObserver.disconnect();
    document.removeEventListener('keydown', onKeyDown);
    document.removeEventListener('keyup', onKeyUp);
    document.removeEventListener('visibilitychange', scheduleSizes);
    window.removeEventListener('kabine:leave', onNavigateAway);
    window.removeEventListener('pagehide', onPageHide);
    devices.removeEventListener('change', onDevices);
    for (const a of audios.values()) a.srcObject = null;
  }

  /**
   * @param {string} title
   * @param {string} text
   * @param {boolean} canRejoin
   */
  function renderEnded(title, text, canRejoin) {
    document.body.classList.remove('in-call');
    showPage(app.root, `${title} – ${app.config.app_name}`,
      h('section', { class: 'ended card' },
        h('h1', { text: title }),
        h('p', { text }),
        h('div', { class: 'row' },
          canRejoin ? h('button', { type: 'button', class: 'primary', text: t('rejoin'),
            on: { click: () => app.navigate(`/${encodeURIComponent(room)}`) } }) : null,
          h('button', { type: 'button', class: canRejoin ? 'secondary' : 'primary', text: t('to_start'),
            on: { click: () => app.navigate('/') } }))));
  }

  function onNavigateAway() {
    if (ended) return;
    ended = true;
    cleanup();
    session.leave().finally(stopLocal);
  }
  function onPageHide() {
    session.send({ type: 'leave' });
  }
  window.addEventListener('kabine:leave', onNavigateAway);
  window.addEventListener('pagehide', onPageHide);

  // ---- help ------------------------------------------------------------
  function buildHelp() {
    const rows = /** @type {[string, string][]} */ ([
      ['M', t('help_mic')], ['V', t('help_camera')], ['D', t('help_screen')], ['C', t('help_chat')],
      ['R', t('help_hand')], ['T', t('help_view')], [t('key_space'), t('help_ptt')], ['?', t('help_help')],
    ]);
    const dialog = h('dialog', { class: 'help', id: 'help-dialog', 'aria-labelledby': 'help-title' },
      h('h2', { id: 'help-title', text: t('shortcuts') }),
      h('p', { text: t('help_intro') }),
      h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('key') }), h('th', { scope: 'col', text: t('action') }))),
        h('tbody', {}, rows.map(([k, a]) => h('tr', {}, h('td', {}, h('kbd', { text: k })), h('td', { text: a }))))),
      h('form', { method: 'dialog' }, h('button', { class: 'primary', text: t('close') })));
    dialog.addEventListener('close', () => helpButton.focus());
    return dialog;
  }
  function openHelp() {
    if (!helpDialog.open) helpDialog.showModal();
  }

  // ---- keyboard --------------------------------------------------------
  /** @param {KeyboardEvent} e */
  function onKeyDown(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target) || document.querySelector('dialog[open], [role="menu"]')) {
      return;
    }
    if (e.key === ' ' || e.code === 'Space') {
      const target = /** @type {HTMLElement | null} */ (e.target instanceof HTMLElement ? e.target : null);
      if (target && target.closest('button, a, select, summary, [role="button"]')) return;
      e.preventDefault();
      if (!e.repeat && devices.mic.track && !devices.mic.want) {
        pushToTalk = true;
        devices.set('mic', true).catch(() => {});
      }
      return;
    }
    if (e.repeat) return;
    const k = e.key.toLowerCase();
    /** @type {Record<string, () => void>} */
    const actions = {
      m: () => toggleMic(),
      v: () => toggleCamera(),
      d: () => toggleScreen(),
      c: () => toggleChat(!chatOpen),
      r: () => toggleHand(),
      t: () => setView(view === 'tiles' ? 'speaker' : 'tiles'),
      '?': () => openHelp(),
    };
    const action = actions[k];
    if (action) {
      e.preventDefault();
      action();
    }
  }
  /** @param {KeyboardEvent} e */
  function onKeyUp(e) {
    if ((e.key === ' ' || e.code === 'Space') && pushToTalk) {
      pushToTalk = false;
      devices.set('mic', false).catch(() => {});
    }
  }
  document.addEventListener('keydown', onKeyDown);
  document.addEventListener('keyup', onKeyUp);

  // ---- session events --------------------------------------------------
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let countdownTimer;
  session.on('state', (s) => {
    if (ended) return;
    clearInterval(countdownTimer);
    countdown.textContent = '';
    retryButton.hidden = s.state !== 'reconnecting';
    paintMode();
    if (s.state === 'joined') {
      banner.hidden = true;
      statusLine.textContent = '';
      return;
    }
    if (s.state === 'closed') return;
    banner.hidden = false;
    banner.classList.toggle('warn', s.state === 'reconnecting');
    if (s.state === 'connecting') {
      statusLine.textContent = t('connecting');
    } else if (s.state === 'reconnecting' && s.retryAt) {
      const reason = s.reason === 'unreachable' ? t('unreachable') : s.reason === 'shutdown' ? t('server_restarting')
        : t('connection_lost');
      // Announced once; the countdown beside it is visual only.
      statusLine.textContent = `${reason} ${t('reconnect_attempt', { n: s.attempt ?? 1 })}`;
      const retryAt = s.retryAt;
      const tick = () => {
        const secs = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        countdown.textContent = t('retrying_in', { s: secs });
      };
      tick();
      countdownTimer = setInterval(tick, 1000);
    } else if (s.state === 'reconnecting') {
      statusLine.textContent = t('reconnecting');
    }
  });
  retryButton.addEventListener('click', () => session.retryNow());

  session.on('waiting', (detail) => {
    if (ended) return;
    callRoot.classList.add('gated');
    banner.hidden = true;
    gate.show(detail);
  });
  session.on('moved', () => {
    paintControls();
    paintTiles();
    paintPeople();
    paintChatTo();
  });
  session.on('welcome', ({ rejoined }) => {
    const wasGated = callRoot.classList.contains('gated');
    callRoot.classList.remove('gated');
    gate.hide();
    paintChatTo();
    if (rejoined) announce(t('reconnected'));
    else announce(t('joined_room', { room }));
    if (wasGated) micButton.focus();
    paintControls();
    paintTiles();
    paintPeople();
  });
  session.on('joined', (p) => {
    paintChatTo();
    announce(t('someone_joined', { name: p.display_name || t('anonymous') }));
    paintControls();
    paintTiles();
    paintPeople();
  });
  session.on('left', (p) => {
    paintChatTo();
    announce(t('someone_left', { name: p.display_name || t('anonymous') }));
    paintControls();
    paintTiles();
    paintPeople();
  });
  session.on('updated', ({ participant, before }) => {
    if (participant.hand && !before.hand && participant.id !== session.you?.id) {
      announce(t('hand_raised_by', { name: participant.display_name || t('anonymous') }));
    }
    paintTiles();
    paintPeople();
  });
  session.on('tracks', (list) => {
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
    paintTiles();
  });
  session.on('mediaproblem', ({ problem }) => {
    if (ended) return;
    if (problem) {
      mediaProblemText.textContent = t(`media_problem_${problem}`);
      mediaProblem.hidden = false;
    } else if (!mediaProblem.hidden) {
      mediaProblem.hidden = true;
      announce(t('media_fixed'));
    }
  });
  session.on('mode', (mode) => {
    paintMode();
    if (session.participants.size > 0) announce(t(mode === 'direct' ? 'mode_direct_now' : 'mode_server_now'));
  });
  session.on('speaker', () => {
    if (view === 'speaker' && !pinned) layout();
    else for (const tile of tiles.values()) paintCaption(tile);
  });
  session.on('chat', (m) => {
    addChat(m, m.from === session.you?.id);
  });
  session.on('error', ({ code, fatal }) => {
    const text = t(/** @type {any} */ (`err_${code}`));
    if (fatal) {
      ended = true;
      cleanup();
      stopLocal();
      renderEnded(t('cannot_join'), text, code === 'room_full' || code === 'server_full');
    } else {
      showToast(text);
    }
  });
  session.on('bye', (reason) => {
    /** @type {Record<string, [string, string, boolean]>} */
    const pages = {
      replaced: [t('replaced_title'), t('replaced_text'), true],
      removed: [t('removed_title'), t('removed_text'), false],
      lobby_denied: [t('denied_title'), t('denied_text'), false],
      meeting_ended: [t('ended_title'), t('ended_text'), true],
    };
    const page = pages[reason];
    if (page) {
      ended = true;
      cleanup();
      stopLocal();
      renderEnded(...page);
    }
  });

  // ---- statistics ------------------------------------------------------
  const statsTimer = setInterval(async () => {
    if (session.state !== 'joined') {
      quality.replaceChildren(icon('signal'), h('span', { text: t('quality_label', { q: t('quality_unknown') }) }));
      quality.className = 'quality q-unknown';
      return;
    }
    try {
      ownStatsQuality = qualityFromStats(await session.stats(), statsTotals);
    } catch {
      ownStatsQuality = 'unknown';
    }
    const q = worstQuality(session.you?.quality ?? 'unknown', ownStatsQuality);
    quality.className = `quality q-${q}`;
    quality.replaceChildren(icon('signal'), h('span', { text: t('quality_label', { q: t(`quality_${q}`) }) }));
    const self = tiles.get('self:camera');
    if (self) paintCaption(self);
  }, STATS_INTERVAL_MS);

  paintControls();
  paintTiles();
  quality.className = 'quality q-unknown';
  quality.replaceChildren(icon('signal'), h('span', { text: t('quality_label', { q: t('quality_unknown') }) }));
}

/**
 * @param {Quality} a
 * @param {Quality} b
 * @returns {Quality}
 */
function worstQuality(a, b) {
  const order = ['unknown', 'good', 'fair', 'poor'];
  return /** @type {Quality} */ (order[Math.max(order.indexOf(a), order.indexOf(b))]);
}
