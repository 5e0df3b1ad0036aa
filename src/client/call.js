// @ts-check
// The call page: puts the stage (tiles.js), the toolbar and keyboard
// (controls.js), the chat (chat.js), the participant list (people.js),
// moderation (moderation.js) and the waiting pages (gate.js) together,
// shows the connection's state and quality, and follows the session's
// events. All signalling and media plumbing is in protocol.js; this module
// only shows it.

import { announce, h, icon, showPage } from './dom.js';
import { problemText, t } from './i18n.js';
import { Session, qualityFromStats, transportFromStats } from './protocol.js';
import { linkKeyFromHash, linkKeyToHash } from './e2ee.js';
import { createChat } from './chat.js';
import { createControls } from './controls.js';
import { createGate } from './gate.js';
import { createModeration } from './moderation.js';
import { createRecording } from './recording.js';
import { createPeople } from './people.js';
import { createStage, worstQuality } from './tiles.js';
import { createTherapy, createWaitingExtras } from './therapy.js';

/** @typedef {import('./protocol.js').Quality} Quality */

const STATS_INTERVAL_MS = 2000;
const TOAST_MS = 8000;

/**
 * @param {import('./app.js').App} app
 * @param {string} room
 * @param {{displayName: string, devices: import('./devices.js').LocalDevices,
 *   appointment?: import('./protocol.js').AppointmentHello, patient?: {when: string, path: string, title: string}}} media
 *   `devices`: camera and microphone, open or still opening (published once open);
 *   `appointment`, `patient`: a patient with an appointment link (patient.js): the
 *   link sent in the hello, the waiting page's time line, the link's path
 */
export function renderCall(app, room, media) {
  document.body.classList.add('in-call');
  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  // The meeting link's key (docs/e2ee.md): in the fragment, never sent to the server.
  const session = new Session({ url: wsUrl, room, displayName: media.displayName, linkKey: linkKeyFromHash(location.hash),
    appointment: media.appointment ?? null });
  const devices = media.devices;
  /** For tests and support: the live session and devices. */
  /** @type {any} */ (window).kabineDebug = { session, devices };
  let ended = false;
  const statsTotals = { lost: 0, received: 0 };

  // ---- parts -------------------------------------------------------------
  const toast = h('div', { class: 'toast', role: 'alert', id: 'toast' });
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
    }, TOAST_MS);
  }

  const stage = createStage({ session, devices, displayName: media.displayName, screen: () => controls.screen,
    viewChanged: () => controls.paint() });
  const chat = createChat({ session, toast: showToast, unreadChanged: () => controls.paint(),
    close: () => togglePanel('chat') });
  const people = createPeople({ session, devices, screen: () => controls.screen, close: () => togglePanel('people') });
  const controls = createControls({
    session,
    devices,
    panels: () => ({ chat: chat.open, people: !people.panel.hidden, unread: chat.unread }),
    togglePanel: (panel) => togglePanel(panel),
    view: () => stage.view,
    toggleView: () => {
      stage.setView(stage.view === 'tiles' ? 'speaker' : 'tiles');
      announce(stage.view === 'tiles' ? t('view_tiles_now') : t('view_speaker_now'));
    },
    leave: () => leave(),
    toast: showToast,
    changed: () => repaint(),
  });
  // Waiting for the host, the lobby, the room password (before `welcome`).
  const waitingExtras = media.patient ? createWaitingExtras({ session, devices: media.devices, when: media.patient.when }) : null;
  const gate = createGate({ session, onLeave: () => leave(), appointment: waitingExtras?.el });
  // Moderation, and what participants see of it.
  const moderation = createModeration({
    session,
    e2eeMode: app.config.e2ee,
    toast: showToast,
    repaint: () => {
      people.paint();
      chat.paintTo();
    },
    openPeople: () => {
      if (people.panel.hidden) togglePanel('people');
    },
    messageTo: (person) => therapy.openMessage(person),
    privateTo: (id) => {
      chat.privateTo(id);
      if (chat.open) chat.setOpen(true);
      else togglePanel('chat');
    },
    turnOff: async (source) => {
      if (source === 'screen') {
        if (controls.screen) controls.stopScreen();
      } else {
        await devices.set(source, false);
      }
    },
    turnOn: async (source) => {
      if (devices.state(source) !== 'on') await devices.set(source, true);
    },
  });
  people.attach(moderation);
  // Recording: the indicator, the consent dialog, the moderator's start/stop.
  const recording = createRecording({ session, config: app.config.recording, toast: showToast });
  // A teletherapy session: timer, end, the introduction prompt, screen-share permission.
  const therapy = createTherapy({ session, toast: showToast, startScreen: () => controls.startScreen(),
    ended: () => {
      if (ended) return;
      ended = true;
      cleanup();
      session.leave().finally(() => {
        stopLocal();
        app.navigate('/sessions');
      });
    } });

  /**
   * Opens `panel` (closing the other one) or closes it; focus moves into an
   * opened panel and back to its button when it closes.
   * @param {'chat' | 'people'} panel
   */
  function togglePanel(panel) {
    const open = panel === 'chat' ? !chat.open : people.panel.hidden;
    chat.setOpen(panel === 'chat' && open);
    people.setOpen(panel === 'people' && open);
    controls.paint();
    if (!open) controls.focusButton(panel);
    stage.layout();
  }

  // ---- the frame -----------------------------------------------------------
  const statusLine = h('p', { class: 'status', role: 'status', id: 'call-status' });
  const retryButton = h('button', { type: 'button', class: 'secondary small', hidden: true, text: t('retry_now'),
    on: { click: () => session.retryNow() } });
  const countdown = h('span', { class: 'countdown', 'aria-hidden': 'true' });
  const banner = h('div', { class: 'banner', hidden: true }, statusLine, countdown, retryButton);
  const quality = h('p', { class: 'quality', id: 'own-quality' });
  // How media travels: in words, not only a colour (WCAG 1.4.1).
  const modeLine = h('p', { class: 'mode server', id: 'call-mode', hidden: true });
  // End-to-end encrypted: the link to invite others carries the meeting's key.
  const inviteButton = h('button', { type: 'button', class: 'secondary small invite', id: 'e2ee-invite', hidden: true,
    on: { click: () => copyInvitation() } }, icon('link'), h('span', { text: t('e2ee_invite') }));
  const countLine = h('p', { class: 'count', id: 'participant-count' });
  // A therapy session is called by its title, not by its room's random name.
  const roomTitle = h('span', { id: 'room-title-text', text: media.patient?.title ?? room });

  showPage(app.root, t('call_title_doc', { room: media.patient?.title ?? room, app: app.config.app_name }),
    h('div', { class: 'call' },
      h('header', { class: 'callbar' },
        h('a', { class: 'brand small', href: '/', 'aria-label': t('home_link', { app: app.config.app_name }),
          on: { click: (/** @type {Event} */ e) => {
            e.preventDefault();
            leave('/');
          } } },
        h('img', { src: '/api/logo', alt: '', class: 'logo', width: 24, height: 24 })),
        h('h1', { class: 'room-title' }, h('span', { class: 'sr-only', text: t('in_meeting') + ' ' }), roomTitle),
        moderation.badges, recording.start, therapy.timer, therapy.endButton, countLine, modeLine, inviteButton, quality),
      recording.indicator,
      banner,
      therapy.intro,
      h('div', { class: 'call-body' }, gate.el, stage.el, chat.panel, people.panel),
      controls.mediaProblem, controls.deviceNote, controls.toolbar, toast, stage.audioBox, controls.helpDialog,
      moderation.dialogs, recording.dialogs, therapy.dialogs));
  const callRoot = /** @type {HTMLElement} */ (app.root.querySelector('.call'));
  // A patient's waiting room is light and quiet, like the pages before it.
  if (media.patient) callRoot.classList.add('patient');

  /** Everything that shows participants and our own media. */
  function repaint() {
    controls.paint();
    countLine.textContent = t('count', { n: session.participants.size + 1 });
    paintMode();
    stage.paint();
    people.paint();
    recording.paint();
  }

  /** Shows whether media goes directly (end-to-end encrypted) or via the server. */
  function paintMode() {
    const e2ee = session.e2eeStatus;
    // In a therapy session everyone has a personal link (sessions.js): no invitations.
    inviteButton.hidden = !e2ee.on || session.state !== 'joined' || !!session.appointment;
    if (e2ee.on) {
      // Claimed only while every stream we receive decrypts (docs/e2ee.md).
      const state = e2ee.linkMismatch ? 'mismatch' : e2ee.allOk ? 'ok' : 'waiting';
      modeLine.hidden = session.state !== 'joined';
      modeLine.className = `mode e2ee ${state}`;
      modeLine.dataset.mode = session.mode;
      modeLine.dataset.e2ee = state;
      modeLine.title = t(state === 'ok' ? 'e2ee_on_hint' : state === 'mismatch' ? 'e2ee_mismatch_hint' : 'e2ee_waiting_hint');
      const code = state === 'ok' && e2ee.code && session.participants.size > 0
        ? h('span', { class: 'code', id: 'e2ee-code', text: t('e2ee_code', { code: e2ee.code }) }) : null;
      modeLine.replaceChildren(icon(state === 'ok' ? 'lock' : 'key'),
        h('span', { text: t(state === 'ok' ? 'e2ee_on' : state === 'mismatch' ? 'e2ee_mismatch' : 'e2ee_waiting') }));
      if (code) modeLine.append(code);
      return;
    }
    delete modeLine.dataset.e2ee;
    const direct = session.mode === 'direct';
    modeLine.hidden = session.participants.size === 0 || session.state !== 'joined';
    modeLine.className = `mode ${direct ? 'direct' : 'server'}`;
    modeLine.dataset.mode = session.mode;
    modeLine.title = t(direct ? 'mode_direct_hint' : 'mode_server_hint');
    modeLine.replaceChildren(icon(direct ? 'lock' : 'server'), h('span', { text: t(direct ? 'mode_direct' : 'mode_server') }));
  }

  /**
   * @param {Quality} q
   * @param {import('./protocol.js').Transport} [transport] how media travels (shown once known)
   */
  function paintQuality(q, transport = 'unknown') {
    quality.className = `quality q-${q}`;
    quality.dataset.transport = transport;
    const parts = [icon('signal'), h('span', { text: t('quality_label', { q: t(`quality_${q}`) }) })];
    if (transport !== 'unknown') {
      parts.push(h('span', { class: 'transport', text: t('transport_label', { t: t(`transport_${transport}`) }) }));
    }
    quality.title = transport === 'unknown' ? '' : t(`transport_${transport}_hint`);
    quality.replaceChildren(...parts);
  }

  // ---- local media -----------------------------------------------------
  // Camera and microphone may still be opening: the call starts at once and
  // each track is published the moment it exists (replaceTrack on the
  // m-lines the publish connection always has: no renegotiation).
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
    if (!devices.starting && !controls.deviceNote.hidden) announce(deviceSummary());
    repaint();
  }
  devices.addEventListener('change', onDevices);
  session.start({ mic: devices.mic.track, camera: devices.published('camera'), micOn: devices.mic.want });

  /** What the person's own camera and microphone do now, in words. */
  function deviceSummary() {
    const mic = t(devices.state('mic') === 'on' ? 'mic_is_on' : 'mic_is_off');
    return `${mic}, ${t(devices.state('camera') === 'on' ? 'camera_is_on' : 'camera_is_off')}`;
  }

  // ---- leaving ---------------------------------------------------------
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
    controls.dispose();
  }

  function cleanup() {
    moderation.dispose();
    therapy.dispose();
    waitingExtras?.dispose();
    gate.hide();
    controls.dispose();
    stage.dispose();
    clearInterval(statsTimer);
    clearInterval(countdownTimer);
    window.removeEventListener('kabine:leave', onNavigateAway);
    window.removeEventListener('pagehide', onPageHide);
    devices.removeEventListener('change', onDevices);
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
            // The fragment keeps the meeting's key (docs/e2ee.md); a patient goes back to their link.
            on: { click: () => app.navigate(`${media.patient?.path ?? `/${encodeURIComponent(room)}`}${location.hash}`) } }) : null,
          h('button', { type: 'button', class: canRejoin ? 'secondary' : 'primary', text: t('to_start'),
            on: { click: () => app.navigate('/') } }))));
  }

  /**
   * The session is over for good: say why.
   * @param {string} title
   * @param {string} text
   * @param {boolean} canRejoin
   */
  function end(title, text, canRejoin) {
    ended = true;
    cleanup();
    stopLocal();
    renderEnded(title, text, canRejoin);
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
  session.on('waiting', (detail) => {
    if (ended) return;
    callRoot.classList.add('gated');
    banner.hidden = true;
    gate.show(detail);
  });
  session.on('moved', () => {
    repaint();
    chat.paintTo();
  });
  session.on('welcome', ({ rejoined }) => {
    if (session.appointment) {
      roomTitle.textContent = session.appointment.title || t('patient_title');
      document.title = t('call_title_doc', { room: roomTitle.textContent, app: session.appointment.practice });
    }
    const wasGated = callRoot.classList.contains('gated');
    callRoot.classList.remove('gated');
    gate.hide();
    chat.paintTo();
    announce(rejoined ? t('reconnected') : t('joined_room', { room: roomTitle.textContent ?? room }));
    if (wasGated) controls.focusFirst();
    repaint();
  });
  session.on('joined', (p) => {
    chat.paintTo();
    announce(t('someone_joined', { name: p.display_name || t('anonymous') }));
    repaint();
  });
  session.on('left', (p) => {
    chat.paintTo();
    announce(t('someone_left', { name: p.display_name || t('anonymous') }));
    repaint();
  });
  session.on('updated', ({ participant, before }) => {
    if (participant.hand && !before.hand && participant.id !== session.you?.id) {
      announce(t('hand_raised_by', { name: participant.display_name || t('anonymous') }));
    }
    stage.paint();
    people.paint();
  });
  session.on('tracks', (list) => {
    stage.playAudio(list);
    stage.paint();
  });
  session.on('mediaproblem', ({ problem }) => {
    if (!ended) controls.showMediaProblem(problem);
  });
  session.on('mode', (mode) => {
    paintMode();
    if (session.participants.size > 0) announce(t(mode === 'direct' ? 'mode_direct_now' : 'mode_server_now'));
  });
  session.on('speaker', () => stage.speakerChanged());
  // ---- end-to-end encryption -------------------------------------------
  /** @type {import('./protocol.js').E2eeStatus} */
  let e2eeBefore = session.e2eeStatus;
  session.on('e2ee', (st) => {
    if (ended) return;
    if (st.allOk && !e2eeBefore.allOk && st.code && session.participants.size > 0) {
      announce(t('e2ee_all_now', { code: st.code }));
    } else if (st.linkMismatch && !e2eeBefore.linkMismatch) {
      announce(t('e2ee_mismatch'));
    }
    e2eeBefore = st;
    paintMode();
    stage.paint();
  });
  session.on('linkkey', (key) => {
    // The address now carries the meeting's key: copying it invites.
    history.replaceState(history.state, '', `${location.pathname}${location.search}${linkKeyToHash(key)}`);
    showToast(t('e2ee_new_key'));
  });
  session.on('e2eeunsupported', () => {
    if (!ended) end(t('e2ee_unsupported_title'), t('e2ee_unsupported_text'), false);
  });
  session.on('roomstate', (st) => {
    if (st.e2ee && !e2eeBefore.on) announce(t('e2ee_now'));
  });
  async function copyInvitation() {
    try {
      await navigator.clipboard.writeText(location.href);
      showToast(t('e2ee_invite_copied'));
    } catch {
      showToast(t('e2ee_invite_failed'));
    }
  }
  session.on('chat', (m) => chat.add(m, m.from === session.you?.id));
  session.on('error', ({ code, fatal }) => {
    const text = t(/** @type {any} */ (`err_${code}`));
    if (fatal) end(t('cannot_join'), text, code === 'room_full' || code === 'server_full');
    else showToast(text);
  });
  session.on('bye', (reason) => {
    /** @type {Record<string, [string, string, boolean]>} */
    const pages = {
      replaced: [t('replaced_title'), t('replaced_text'), true],
      removed: [t('removed_title'), t('removed_text'), false],
      lobby_denied: [t('denied_title'), t('denied_text'), false],
      meeting_ended: [t('ended_title'), t('ended_text'), true],
      wait_expired: [t('wait_expired_title'), t('wait_expired_text'), true],
      link_revoked: [t('bye_link_revoked_title'), t('bye_link_revoked_text'), false],
    };
    if (reason === 'meeting_ended' && session.appointment?.role === 'therapist') {
      // The session is over: its record waits on the sessions page.
      ended = true;
      cleanup();
      stopLocal();
      app.navigate('/sessions');
      return;
    }
    if (reason === 'meeting_ended' && (session.appointment || media.patient)) {
      end(t('session_ended_title'), t('session_ended_text'), false);
      return;
    }
    const page = pages[reason];
    if (page) end(...page);
  });

  // ---- statistics ------------------------------------------------------
  const statsTimer = setInterval(async () => {
    if (session.state !== 'joined') {
      paintQuality('unknown');
      return;
    }
    /** @type {Quality} */ let measured;
    /** @type {import('./protocol.js').Transport} */ let transport = 'unknown';
    try {
      const stats = await session.stats();
      measured = qualityFromStats(stats, statsTotals);
      transport = transportFromStats(stats);
    } catch {
      measured = 'unknown';
    }
    paintQuality(worstQuality(session.you?.quality ?? 'unknown', measured), transport);
    stage.setOwnQuality(measured);
  }, STATS_INTERVAL_MS);

  repaint();
  paintQuality('unknown');
}
