// @ts-check
// Kabine's signalling and media session, without any DOM: one WebSocket to
// the server and two RTCPeerConnections (see docs/protocol.md). The browser
// offers on the publish connection (mic, camera in three simulcast layers,
// screen) and answers on the subscribe connection, so offer/answer glare
// cannot happen. Lost connections are re-established with backoff and the
// room is joined again.
//
// The UI listens to events on a `Session` (an EventTarget); every event is a
// CustomEvent whose `detail` is described in `SessionEvents` below.

import { DirectCall } from './p2p.js';
import { MediaHealth } from './health.js';
import { KeyExchange } from './e2ee-keys.js';
import { FrameCrypto, isSupported } from './e2ee-media.js';
import { newLinkKey } from './e2ee.js';
import { ALL_LAYERS, clampLayers, updateSender } from './layers.js';

export const PROTOCOL_VERSION = 1;

/** Longest chat message, in characters (as the server). */
export const MAX_CHAT_CHARS = 2000;
/** Longest display name, in characters (as the server). */
export const MAX_NAME_CHARS = 64;

/**
 * @typedef {'mic' | 'camera' | 'screen'} Source
 * @typedef {'unknown' | 'good' | 'fair' | 'poor'} Quality
 * @typedef {{id: string, display_name: string, mic: boolean, camera: boolean, screen: boolean,
 *   hand: boolean, quality: Quality, moderator?: boolean, host?: boolean}} Participant
 * @typedef {{urls: string[], username?: string, credential?: string}} IceServer
 * @typedef {'udp' | 'tcp' | 'tls-relay' | 'tcp-relay' | 'udp-relay' | 'unknown'} Transport
 * @typedef {{mid: string, participant: string, source: Source}} SubscribedTrack
 * @typedef {{mid: string, participant: string | null}} AudioSlot one audio m-line of the subscribe
 *   connection and who is heard on it now (`null`: nobody)
 * @typedef {{participant: string, source: Source, width: number, height: number}} VideoSize
 * @typedef {'bad_message' | 'unsupported_version' | 'not_joined' | 'bad_room_name' | 'bad_display_name'
 *   | 'room_full' | 'server_full' | 'bad_sdp' | 'chat_rejected' | 'internal' | 'login_required'
 *   | 'not_moderator' | 'unknown_participant' | 'bad_password' | 'private_chat_disabled' | 'bad_breakout'
 *   | 'hosts_only' | 'recording_unavailable' | 'recording_declined' | 'e2ee_unavailable'
 *   | 'appointment_invalid' | 'consent_required' | 'link_in_use' | 'not_your_session' | 'not_allowed'
 *   | 'screen_not_allowed'} ErrorCode
 * @typedef {'left' | 'server_shutdown' | 'media_failed' | 'replaced' | 'removed' | 'meeting_ended'
 *   | 'lobby_denied' | 'wait_expired' | 'link_revoked'} ByeReason
 * @typedef {{mid: string, participant: string | null, source: Source, track: MediaStreamTrack,
 *   receiver?: RTCRtpReceiver, slot?: boolean}} RemoteTrack
 *   `mid` of the subscribe connection, or `direct-<epoch>-<source>` for a
 *   track of a direct call. `slot`: an audio slot, whose `participant`
 *   (`null`: nobody now) changes with who speaks in a big room.
 * @typedef {'server' | 'direct'} MediaMode how media travels: via the server, or directly (end-to-end encrypted)
 * @typedef {'participants' | 'failed'} P2pStopReason
 * @typedef {{from: string, from_name: string, text: string, ts: number, to?: string,
 *   broadcast?: boolean}} ChatMessage
 *   `to`: a private message (to this participant, or from it to `to`);
 *   `broadcast`: a moderator's message to every room of the meeting.
 * @typedef {{id: string, display_name: string, link?: string}} Person `link`: the appointment
 *   link a waiting patient came with ("Patient 2"; moderators only)
 * @typedef {{id: string | null, title: string | null, start: number, duration_minutes: number,
 *   started_at: number | null, practice: string, role: 'therapist' | 'patient'}} AppointmentInfo
 *   the teletherapy appointment of the room (docs/teletherapy.md); times in unix seconds
 * @typedef {{token: string, consent: string}} AppointmentHello a patient's link and the consent version accepted
 * @typedef {{id: string, name: string}} BreakoutPlace
 * @typedef {{id: string, name: string, participants: Person[]}} BreakoutRoom
 * @typedef {{locked: boolean, lobby: boolean, private_chat: boolean, e2ee: boolean}} RoomState
 * @typedef {'ok' | 'waiting' | 'untrusted'} PeerKeyState whether a participant's media decrypts here:
 *   `waiting` for their key (or their frames do not decrypt), `untrusted`: their key is not
 *   authenticated by our link key (another link)
 * @typedef {object} E2eeStatus
 * @property {boolean} on the meeting is end-to-end encrypted
 * @property {boolean} allOk every stream we receive decrypts (and we have everyone's key)
 * @property {string | null} code the verification code of this view of the meeting
 * @property {boolean} linkMismatch nobody else's key matches our link key: our link is wrong
 * @property {Record<string, PeerKeyState>} peers by participant id
 * @property {number | null} ownIndex the index of the sender key we encrypt with
 * @typedef {'host' | 'lobby' | 'password'} WaitKind
 *
 * @typedef {'connecting' | 'joined' | 'reconnecting' | 'closed'} SessionState
 * @typedef {{state: SessionState, reason?: 'unreachable' | 'lost' | 'media' | 'shutdown',
 *   attempt?: number, retryAt?: number}} StateDetail
 *
 * @typedef {object} SessionEvents
 * @property {StateDetail} state the connection state changed
 * @property {{you: Participant, rejoined: boolean}} welcome joined (again, after a reconnect)
 * @property {Participant} joined someone joined
 * @property {{participant: Participant, before: Participant}} updated someone's state changed
 * @property {Participant} left someone left
 * @property {RemoteTrack[]} tracks the set of remote tracks changed
 * @property {ChatMessage} chat a chat message arrived
 * @property {string | null} speaker the active speaker changed
 * @property {{code: ErrorCode, message: string, fatal: boolean}} error the server refused something
 * @property {ByeReason} bye the server ended the session
 * @property {MediaMode} mode media goes directly between the two participants now, or via the server again
 * @property {{reason: WaitKind, wrong?: boolean, retryAfterSecs?: number}} waiting not in yet: waiting
 *   for a host, in the lobby, or asked for the room password
 * @property {RoomState} roomstate the room's settings changed
 * @property {Person[]} lobby (moderators) who waits in the lobby
 * @property {{source: Source, by: string, byName: string}} muted a moderator muted a source of ours
 * @property {{source: Source, by: string, byName: string}} unmuterequest a moderator asks to turn a source on
 * @property {BreakoutPlace | null} moved we are now in this breakout room (null: the main room)
 * @property {{problem: import('./health.js').Problem | null}} mediaproblem what we publish does not
 *   reach the server (`blocked`: nothing can; `mic`, `camera`: that source), or (`null`) it does again
 * @property {{rooms: BreakoutRoom[], main: Person[]}} breakouts (moderators) who is where
 * @property {Recording} recording the meeting's recording changed (who agreed, declined, is asked)
 * @property {{by: string, byName: string}} recordingrequest a moderator asks us to consent to a recording
 * @property {E2eeStatus} e2ee end-to-end encryption: on, decrypting, the verification code
 * @property {import('./e2ee.js').Bytes} linkkey a new link key was made (the link had none): the address must carry it
 * @property {null} e2eeunsupported the meeting is end-to-end encrypted and this browser cannot do it
 * @property {{text: string, fromName: string}} waitingmessage (waiting) the therapist's message to us
 * @property {{id: string, name: string}} screenrequest someone asks to share their screen (appointments)
 * @property {{allow: boolean, byName: string}} screenanswer the answer to our screen request
 */

/**
 * @typedef {{type: 'welcome', version: number, you: Participant, participants: Participant[],
 *     ice_servers: IceServer[], last_n: number, e2ee: boolean, appointment?: AppointmentInfo}
 *   | {type: 'participant_joined', participant: Participant}
 *   | {type: 'participant_updated', participant: Participant}
 *   | {type: 'participant_left', id: string}
 *   | {type: 'publish_answer', sdp: string}
 *   | {type: 'subscribe_offer', sdp: string, tracks: SubscribedTrack[]}
 *   | {type: 'audio_slots', slots: AudioSlot[]}
 *   | {type: 'active_speaker', id: string | null}
 *   | {type: 'chat', from: string, from_name: string, text: string, ts: number}
 *   | {type: 'error', code: ErrorCode, message: string}
 *   | {type: 'bye', reason: ByeReason}
 *   | {type: 'media_stalled', source: Source}
 *   | {type: 'send_layers', source: 'camera' | 'screen', layers: number}
 *   | {type: 'p2p_start', epoch: number, peer: string, offerer: boolean, ice_servers: IceServer[]}
 *   | {type: 'p2p_offer', epoch: number, from: string, sdp: string}
 *   | {type: 'p2p_answer', epoch: number, from: string, sdp: string}
 *   | {type: 'p2p_candidate', epoch: number, from: string, candidate: string, sdp_mid: string | null,
 *       sdp_m_line_index: number | null}
 *   | {type: 'p2p_direct', epoch: number}
 *   | {type: 'p2p_stop', epoch: number, reason: P2pStopReason}
 *   | {type: 'waiting', reason: 'host' | 'lobby'}
 *   | {type: 'password_required', wrong: boolean, retry_after_secs: number}
 *   | {type: 'ticket', ticket: string}
 *   | {type: 'room_state', locked: boolean, lobby: boolean, private_chat: boolean, e2ee: boolean}
 *   | {type: 'recording', state: RecordingState, agreed: string[], declined: string[], pending: string[]}
 *   | {type: 'recording_consent_request', by: string, by_name: string}
 *   | {type: 'e2ee', from: string, data: string}
 *   | {type: 'lobby', knocking: Person[]}
 *   | {type: 'muted', source: Source, by: string, by_name: string}
 *   | {type: 'unmute_request', source: Source, by: string, by_name: string}
 *   | {type: 'moved', room: BreakoutPlace | null, participants: Participant[]}
 *   | {type: 'breakouts', rooms: BreakoutRoom[], main: Person[]}
 *   | {type: 'broadcast', from: string, from_name: string, text: string, ts: number}
 *   | {type: 'private_chat', from: string, from_name: string, to: string, text: string, ts: number}
 *   | {type: 'waiting_message', text: string, from_name: string}
 *   | {type: 'screen_request', id: string, name: string}
 *   | {type: 'screen_answer', allow: boolean, by_name: string}} ServerMsg
 */

/**
 * @typedef {'off' | 'asking' | 'on'} RecordingState
 * @typedef {{state: RecordingState, agreed: string[], declined: string[], pending: string[]}} Recording
 */

/** Errors after which joining again cannot help: the user must act. */
export const FATAL_ERRORS = /** @type {ReadonlySet<string>} */ (
  new Set(['unsupported_version', 'bad_room_name', 'bad_display_name', 'room_full', 'login_required',
    'appointment_invalid', 'consent_required', 'link_in_use', 'not_your_session'])
);

/** Simulcast layers of the camera, lowest first (rids as in docs/protocol.md). */
export const SIMULCAST = [
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'h', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/** Bye reasons after which the session is over for good (no reconnect). */
const FINAL_BYES = /** @type {ReadonlySet<string>} */ (
  new Set(['left', 'replaced', 'removed', 'meeting_ended', 'lobby_denied', 'wait_expired', 'link_revoked'])
);

/**
 * A patient's hello refused with `link_in_use`: asked again this far
 * apart, this often on a first visit (the link may be open on another
 * device), and more often after a lost connection: the server notices a
 * connection that vanished without closing only after 45 s of silence
 * (`Timings::drop_after`), and until then holds the link for it.
 */
const LINK_IN_USE_RETRY_MS = 2500;
const LINK_IN_USE_RETRIES = 4;
const LINK_IN_USE_RETRIES_AFTER_LOSS = 22;

/** How often what we publish is checked (health.js). */
const HEALTH_CHECK_MS = 1000;
/** Reconnect backoff: first delay, cap, and how long a connect attempt may take. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;
/** Leaving a direct call: how long the direct streams keep playing at most
 * while the server's streams are awaited, and how long the direct connection
 * stays open after the switch (the other side may still be waiting). */
const LEAVE_DIRECT_MAX_MS = 4000;
const LEAVE_DIRECT_LINGER_MS = 2000;
/** How often the server's streams are checked while leaving a direct call. */
const LEAVE_DIRECT_POLL_MS = 100;

/** A sender whose frames failed to decrypt this recently (and none since) shows "waiting for the key". */
const E2EE_FAILING_MS = 2500;

/** Marks a repeated media section of a compacted answer (docs/protocol.md). */
export const SAME_AS_PREVIOUS = 'a=x-kabine-same';

/**
 * Compacts a subscribe answer (docs/protocol.md, "Compacted subscribe
 * answers"): a media section with exactly one a=mid, at most one direction
 * and one a=msid, and otherwise the same lines in the same order as the
 * previous complete section with the same m= line is sent as its m= line,
 * those own lines and SAME_AS_PREVIOUS. Browsers repeat ICE, DTLS, codec and extension
 * lines in every section (~800 bytes each): a room of 100 would not fit the
 * 64 KiB message limit. The server restores the sections exactly before
 * use. The same as `compact_answer` in src/sfu/sdp.rs.
 * @param {string} sdp
 * @returns {string}
 */
export function compactAnswer(sdp) {
  // A section's own lines: 0 the mid, 1 the direction, 2 the msid (-1: none).
  const ownKind = (/** @type {string} */ l) => {
    if (l.startsWith('a=mid:')) return 0;
    if (l === 'a=sendrecv' || l === 'a=sendonly' || l === 'a=recvonly' || l === 'a=inactive') return 1;
    return l.startsWith('a=msid:') ? 2 : -1;
  };
  const placeholders = ['\0mid', '\0direction', '\0msid'];
  // The section's lines with its own lines as placeholders.
  const shape = (/** @type {string[]} */ lines) =>
    lines.map((l) => (ownKind(l) >= 0 ? placeholders[ownKind(l)] : l)).join('\n');
  const lines = sdp.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => l !== '');
  /** @type {string[]} */
  const out = [];
  /** @type {{m: string, lines: string[]}[]} */
  const sections = [];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push({ m: line, lines: [] });
    else if (sections.length > 0) sections[sections.length - 1].lines.push(line);
    else out.push(line);
  }
  /** Shape of the last complete section per m= line. @type {Map<string, string>} */
  const templates = new Map();
  for (const section of sections) {
    const own = section.lines.filter((l) => ownKind(l) >= 0);
    const counts = [0, 1, 2].map((k) => own.filter((l) => ownKind(l) === k).length);
    const s = shape(section.lines);
    out.push(section.m);
    if (counts[0] === 1 && counts[1] <= 1 && counts[2] <= 1 && templates.get(section.m) === s) {
      out.push(...own, SAME_AS_PREVIOUS);
    } else {
      out.push(...section.lines);
      templates.set(section.m, s);
    }
  }
  return out.map((l) => `${l}\r\n`).join('');
}

/** One participation in one room, kept alive across reconnects. */
export class Session extends EventTarget {
  /**
   * @param {{url: string, room: string, displayName: string, linkKey?: Uint8Array | null,
   *   appointment?: AppointmentHello | null}} options
   *   `url`: the `wss://…/ws` address of this origin; `linkKey`: the key in
   *   the meeting link's fragment, if there is one (docs/e2ee.md);
   *   `appointment`: a patient's appointment link and accepted consent.
   */
  constructor(options) {
    super();
    this.url = options.url;
    this.room = options.room;
    this.displayName = options.displayName;
    /** A patient's appointment link, sent in every hello. @type {AppointmentHello | null} */
    this.appointmentHello = options.appointment ?? null;
    /** The room's appointment, from `welcome` (null: an ordinary meeting). @type {AppointmentInfo | null} */
    this.appointment = null;
    /** (Appointments) someone allowed our screen share; ends when we stop sharing. */
    this.screenAllowed = false;
    /** `link_in_use` answers asked again since the last welcome. */
    this.linkRetries = 0;
    // End-to-end encryption (docs/e2ee.md).
    /** The meeting is end-to-end encrypted (the server says so; once on, on). */
    this.e2ee = false;
    /** @type {import('./e2ee.js').Bytes | null} */
    this.linkKey = /** @type {import('./e2ee.js').Bytes | null} */ (options.linkKey ?? null);
    /** The frame worker and transforms. @type {FrameCrypto | null} */
    this.crypto = null;
    /** The key exchange. @type {KeyExchange | null} */
    this.keys = null;
    /** @type {E2eeStatus} */
    this.e2eeStatus = { on: false, allOk: false, code: null, linkMismatch: false, peers: {}, ownIndex: null };
    /** @type {SessionState} */
    this.state = 'connecting';
    /** @type {Participant | null} */
    this.you = null;
    /** Everyone else, by id. @type {Map<string, Participant>} */
    this.participants = new Map();
    /** Remote tracks by mid of the subscribe connection. @type {Map<string, RemoteTrack>} */
    this.remoteTracks = new Map();
    /** Who is heard on each audio slot, by mid. @type {Map<string, string | null>} */
    this.audioSlots = new Map();
    /** @type {string | null} */
    this.activeSpeaker = null;
    this.lastN = 0;

    /** Local media. The mic track stays attached while muted (it is disabled). */
    /** @type {MediaStreamTrack | null} */ this.micTrack = null;
    /** @type {MediaStreamTrack | null} */ this.cameraTrack = null;
    /** @type {MediaStreamTrack | null} */ this.screenTrack = null;
    /** The person wants the microphone on; it sends once there is a track too (`micSending`). */
    this.micOn = false;
    this.handRaised = false;

    /** @type {WebSocket | null} */ this.ws = null;
    /** @type {RTCPeerConnection | null} */ this.pub = null;
    /** @type {RTCPeerConnection | null} */ this.sub = null;
    /** @type {{mic?: RTCRtpTransceiver, camera?: RTCRtpTransceiver, screen?: RTCRtpTransceiver}} */
    this.senders = {};
    /** A publish offer is waiting for its answer. */
    this.pubBusy = false;
    /** Tracks changed while an offer was in flight: offer again after the answer. */
    this.pubAgain = false;
    /** Serialises subscribe offers. @type {Promise<void>} */
    this.subChain = Promise.resolve();
    /** @type {SubscribedTrack[]} */
    this.subTracks = [];
    /** Sizes of the last subscribe answer, bytes: plain SDP and as sent. @type {{plain: number, sent: number} | null} */
    this.answerBytes = null;
    this.lastSizes = '';
    /** @type {VideoSize[]} */
    this.sizes = [];
    this.attempt = 0;
    this.everJoined = false;
    this.closing = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */ this.retryTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */ this.connectTimer = undefined;
    /** Increases with every connection, so late events of old ones are ignored. */
    this.generation = 0;
    /**
     * What happened when, in this page only (ms since the page loaded), for
     * support and tests: the steps of joining and of every reconnect. The
     * last 200 steps. @type {[number, string][]}
     */
    this.timeline = [];

    /** The direct call the server asked for (connecting or direct). @type {DirectCall | null} */
    this.direct = null;
    /** The direct call whose streams are played instead of the server's. @type {DirectCall | null} */
    this.playing = null;
    /** How media travels now, as shown to the user. @type {MediaMode} */
    this.mode = 'server';
    /** Sending to the server is paused while the call is direct. */
    this.sfuPaused = false;
    /**
     * How many simulcast layers (lowest first) each video source sends:
     * the server's `send_layers` for the current publish connection (a new
     * one starts with all). @type {{camera: number, screen: number}}
     */
    this.layerCaps = { camera: ALL_LAYERS, screen: ALL_LAYERS };
    // Access and moderation (docs/protocol.md).
    /** Secret for `rejoin` after a lost connection (memory only). @type {string | null} */
    this.ticket = null;
    /** The room password the user gave, sent again after a reconnect (memory only). @type {string | null} */
    this.password = null;
    /** The remembered password was sent on this connection. */
    this.passwordSent = false;
    /** What we wait for before `welcome`. @type {WaitKind | null} */
    this.waitingFor = null;
    /** @type {RoomState} */
    this.roomState = { locked: false, lobby: false, private_chat: false, e2ee: false };
    /** The meeting's recording: who agreed, declined, has not answered. @type {Recording} */
    this.recording = { state: 'off', agreed: [], declined: [], pending: [] };
    /** (Moderators) who waits in the lobby. @type {Person[]} */
    this.lobby = [];
    /** The breakout room we are in (null: the main room). @type {BreakoutPlace | null} */
    this.breakout = null;
    /** (Moderators) the breakout rooms and who is where. @type {{rooms: BreakoutRoom[], main: Person[]}} */
    this.breakouts = { rooms: [], main: [] };
    /** Sources a moderator muted that we have not turned on again. @type {Set<Source>} */
    this.forced = new Set();
    /** Whether what we publish reaches the server (health.js). */
    this.health = new MediaHealth();
    /** @type {ReturnType<typeof setInterval> | undefined} */ this.healthTimer = undefined;
  }

  /** Whether we moderate the meeting. */
  get isModerator() {
    return !!this.you?.moderator;
  }

  /**
   * @template {keyof SessionEvents} K
   * @param {K} type
   * @param {SessionEvents[K]} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Listens to one kind of event, typed.
   * @template {keyof SessionEvents} K
   * @param {K} type
   * @param {(detail: SessionEvents[K]) => void} fn
   */
  on(type, fn) {
    this.addEventListener(type, (e) => fn(/** @type {CustomEvent<SessionEvents[K]>} */ (e).detail));
  }

  /**
   * Sets the local media to publish, then connects.
   * @param {{mic: MediaStreamTrack | null, camera: MediaStreamTrack | null, micOn: boolean}} media
   */
  start(media) {
    this.micTrack = media.mic;
    this.cameraTrack = media.camera;
    this.micOn = media.micOn;
    if (this.micTrack) this.micTrack.enabled = this.micOn;
    this.connect();
  }

  /** @param {string} step */
  mark(step) {
    this.timeline.push([Math.round(performance.now()), step]);
    if (this.timeline.length > 200) this.timeline.shift();
  }

  /** @param {StateDetail} detail */
  setState(detail) {
    this.state = detail.state;
    this.emit('state', detail);
  }

  connect() {
    const gen = ++this.generation;
    this.setState({ state: this.everJoined ? 'reconnecting' : 'connecting', attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.connectionLost(gen, 'unreachable');
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      if (gen === this.generation && this.state !== 'joined') this.connectionLost(gen, 'unreachable');
    }, CONNECT_TIMEOUT_MS);
    this.mark(`connect ${gen}`);
    ws.addEventListener('open', () => {
      if (gen !== this.generation) return;
      this.mark('ws open');
      this.passwordSent = false;
      this.sendHello();
    });
    ws.addEventListener('message', (e) => {
      if (gen !== this.generation) return;
      /** @type {ServerMsg} */
      let msg;
      try {
        msg = JSON.parse(typeof e.data === 'string' ? e.data : '');
      } catch {
        return;
      }
      this.handle(msg, gen).catch((err) => {
        console.warn('kabine: handling a server message failed', err);
        if (gen === this.generation) this.connectionLost(gen, 'media');
      });
    });
    ws.addEventListener('close', (e) => {
      if (gen !== this.generation || this.closing) return;
      this.mark(`ws closed ${e.code}${e.reason ? ` ${e.reason}` : ''}`);
      this.connectionLost(gen, this.everJoined ? 'lost' : 'unreachable');
    });
  }

  /** Says who we are on a fresh connection. */
  sendHello() {
    const hello = { version: PROTOCOL_VERSION, room: this.room, display_name: this.displayName };
    if (this.appointmentHello) {
      // A patient: always the link (an appointment's waiting room takes no ticket).
      this.send({ type: 'hello', ...hello, appointment: this.appointmentHello });
    } else if (this.ticket) {
      // After a lost connection the ticket lets us back in past password and lobby.
      this.send({ type: 'rejoin', ...hello, ticket: this.ticket });
    } else {
      this.send({ type: 'hello', ...hello });
    }
  }

  /**
   * @param {ServerMsg} msg
   * @param {number} gen
   */
  async handle(msg, gen) {
    switch (msg.type) {
      case 'welcome': {
        this.mark('welcome');
        clearTimeout(this.connectTimer);
        const rejoined = this.everJoined;
        this.everJoined = true;
        this.attempt = 0;
        this.you = msg.you;
        this.appointment = msg.appointment ?? null;
        this.linkRetries = 0;
        this.lastN = msg.last_n;
        this.waitingFor = null;
        this.breakout = null;
        this.forced.clear();
        this.participants = new Map(msg.participants.map((p) => [p.id, p]));
        this.activeSpeaker = null;
        // Before any connection exists: every frame is encrypted from the first.
        if ((msg.e2ee || this.e2ee) && !this.startE2ee()) return;
        this.setState({ state: 'joined' });
        this.emit('welcome', { you: msg.you, rejoined });
        this.sendMediaState();
        if (this.handRaised) this.send({ type: 'hand', raised: true });
        this.lastSizes = '';
        if (this.sizes.length) this.sendVideoSizes(this.sizes);
        this.setupPeerConnections(msg.ice_servers, gen);
        await this.negotiatePublish();
        break;
      }
      case 'participant_joined':
        this.participants.set(msg.participant.id, msg.participant);
        this.keys?.joined(msg.participant.id);
        this.emit('joined', msg.participant);
        break;
      case 'participant_updated': {
        // A direct call plays only the sources the server says are on.
        if (this.playing?.peer === msg.participant.id) queueMicrotask(() => this.updateRemoteTracks());
        if (this.you && msg.participant.id === this.you.id) {
          const before = this.you;
          this.you = msg.participant;
          this.emit('updated', { participant: msg.participant, before });
          break;
        }
        const before = this.participants.get(msg.participant.id) ?? msg.participant;
        this.participants.set(msg.participant.id, msg.participant);
        this.emit('updated', { participant: msg.participant, before });
        break;
      }
      case 'participant_left': {
        const p = this.participants.get(msg.id);
        this.participants.delete(msg.id);
        this.keys?.left(msg.id);
        if (p) this.emit('left', p);
        break;
      }
      case 'publish_answer':
        if (!this.pub || this.pub.signalingState !== 'have-local-offer') break;
        this.mark('publish answer');
        await this.pub.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        this.pubBusy = false;
        // A sender added while the call is direct (a screen share) starts
        // paused too, and every sender keeps its layer cap.
        await this.syncSenders();
        if (this.pubAgain) {
          this.pubAgain = false;
          await this.negotiatePublish();
        }
        break;
      case 'subscribe_offer': {
        this.mark(`subscribe offer (${msg.tracks.length} videos)`);
        const { sdp, tracks } = msg;
        this.subChain = this.subChain.then(() => this.answerSubscribe(sdp, tracks, gen));
        await this.subChain;
        break;
      }
      case 'audio_slots':
        // May name slots of an offer still being answered: kept, and
        // applied when its transceivers exist (answerSubscribe).
        this.audioSlots = new Map(msg.slots.map((x) => [x.mid, x.participant]));
        this.updateRemoteTracks();
        break;
      case 'active_speaker':
        this.activeSpeaker = msg.id;
        this.emit('speaker', msg.id);
        break;
      case 'chat':
        this.emit('chat', { from: msg.from, from_name: msg.from_name, text: msg.text, ts: msg.ts });
        break;
      case 'error': {
        // A patient back after a lost connection: the server may not have
        // seen the old one close yet (docs/protocol.md). Asked again a few times.
        const linkRetries = gen > 1 ? LINK_IN_USE_RETRIES_AFTER_LOSS : LINK_IN_USE_RETRIES;
        if (msg.code === 'link_in_use' && this.appointmentHello && this.linkRetries < linkRetries) {
          this.linkRetries++;
          this.mark('link in use: hello again');
          setTimeout(() => {
            if (gen === this.generation && this.state !== 'joined') this.sendHello();
          }, LINK_IN_USE_RETRY_MS);
          break;
        }
        const fatal = FATAL_ERRORS.has(msg.code) || (msg.code === 'server_full' && !this.everJoined);
        if (msg.code === 'bad_sdp') this.pubBusy = false;
        this.emit('error', { code: msg.code, message: msg.message, fatal });
        if (fatal) this.shutDown();
        break;
      }
      case 'p2p_start':
        this.mark(`p2p start ${msg.epoch}`);
        this.startDirect(msg.epoch, msg.peer, msg.offerer, msg.ice_servers, gen);
        break;
      case 'p2p_offer':
        if (this.direct?.epoch === msg.epoch) await this.direct.onOffer(msg.sdp);
        break;
      case 'p2p_answer':
        if (this.direct?.epoch === msg.epoch) await this.direct.onAnswer(msg.sdp);
        break;
      case 'p2p_candidate':
        if (this.direct?.epoch === msg.epoch) {
          await this.direct.onCandidate({ candidate: msg.candidate, sdpMid: msg.sdp_mid, sdpMLineIndex: msg.sdp_m_line_index });
        }
        break;
      case 'p2p_direct':
        this.mark(`p2p direct ${msg.epoch}`);
        if (this.direct?.epoch !== msg.epoch) break;
        // Both play the direct streams: stop sending to the server, which
        // forwards nothing for this room now.
        await this.setSfuPaused(true);
        this.setMode('direct');
        break;
      case 'p2p_stop':
        this.mark(`p2p stop ${msg.epoch} ${msg.reason}`);
        if (this.direct?.epoch === msg.epoch) this.leaveDirect(gen);
        break;
      case 'waiting':
        clearTimeout(this.connectTimer);
        this.attempt = 0;
        this.waitingFor = msg.reason;
        this.emit('waiting', { reason: msg.reason });
        break;
      case 'password_required':
        clearTimeout(this.connectTimer);
        this.attempt = 0;
        this.waitingFor = 'password';
        if (this.password && !this.passwordSent && !msg.wrong && msg.retry_after_secs === 0) {
          // Back after a lost connection: the password the user gave before.
          this.passwordSent = true;
          this.send({ type: 'password', password: this.password });
          break;
        }
        if (msg.wrong) this.password = null;
        this.emit('waiting', { reason: 'password', wrong: msg.wrong, retryAfterSecs: msg.retry_after_secs });
        break;
      case 'ticket':
        this.ticket = msg.ticket;
        break;
      case 'room_state':
        this.roomState = { locked: msg.locked, lobby: msg.lobby, private_chat: msg.private_chat, e2ee: msg.e2ee };
        // A moderator turned end-to-end encryption on during the meeting.
        if (msg.e2ee && !this.e2ee && this.you && this.state === 'joined') this.startE2ee();
        this.emit('roomstate', this.roomState);
        break;
      case 'recording':
        this.recording = { state: msg.state, agreed: msg.agreed, declined: msg.declined, pending: msg.pending };
        this.emit('recording', this.recording);
        break;
      case 'recording_consent_request':
        this.emit('recordingrequest', { by: msg.by, byName: msg.by_name });
        break;
      case 'e2ee':
        this.keys?.receive(msg.from, msg.data);
        break;
      case 'lobby':
        this.lobby = msg.knocking;
        this.emit('lobby', msg.knocking);
        break;
      case 'muted':
        this.forced.add(msg.source);
        this.emit('muted', { source: msg.source, by: msg.by, byName: msg.by_name });
        break;
      case 'unmute_request':
        this.emit('unmuterequest', { source: msg.source, by: msg.by, byName: msg.by_name });
        break;
      case 'moved':
        this.breakout = msg.room;
        this.participants = new Map(msg.participants.map((p) => [p.id, p]));
        // Another room: new keys there; the old room's people get none of them.
        this.keys?.moved(msg.participants.map((p) => p.id));
        this.activeSpeaker = null;
        this.emit('moved', msg.room);
        break;
      case 'breakouts':
        this.breakouts = { rooms: msg.rooms, main: msg.main };
        this.emit('breakouts', this.breakouts);
        break;
      case 'broadcast':
        this.emit('chat', { from: msg.from, from_name: msg.from_name, text: msg.text, ts: msg.ts, broadcast: true });
        break;
      case 'private_chat':
        this.emit('chat', { from: msg.from, from_name: msg.from_name, text: msg.text, ts: msg.ts, to: msg.to });
        break;
      case 'waiting_message':
        this.emit('waitingmessage', { text: msg.text, fromName: msg.from_name });
        break;
      case 'screen_request':
        this.emit('screenrequest', { id: msg.id, name: msg.name });
        break;
      case 'screen_answer':
        this.screenAllowed = msg.allow;
        this.emit('screenanswer', { allow: msg.allow, byName: msg.by_name });
        break;
      case 'send_layers': {
        // Nobody receives the layers above this one (docs/protocol.md,
        // "Layers nobody receives"): they are not encoded or sent.
        const layers = clampLayers(msg.layers);
        if ((msg.source !== 'camera' && msg.source !== 'screen') || layers === null) break;
        if (this.layerCaps[msg.source] !== layers) this.mark(`layers ${msg.source} ${layers}`);
        this.layerCaps[msg.source] = layers;
        await this.syncSender(msg.source);
        break;
      }
      case 'media_stalled':
        // The server gets nothing of a source it is told is on.
        this.mark(`server: ${msg.source} stalled`);
        if (msg.source !== 'screen') await this.act(this.health.reported(Date.now(), msg.source), gen);
        break;
      case 'bye':
        this.emit('bye', msg.reason);
        if (FINAL_BYES.has(msg.reason)) {
          this.shutDown();
        } else {
          this.connectionLost(gen, msg.reason === 'server_shutdown' ? 'shutdown' : 'media');
        }
        break;
      default:
        break;
    }
  }

  /**
   * Creates both peer connections for this connection generation.
   * @param {IceServer[]} iceServers
   * @param {number} gen
   */
  setupPeerConnections(iceServers, gen) {
    this.closePeerConnections();
    /** @type {RTCConfiguration} */
    // 'balanced' (not 'max-bundle'): with max-bundle Firefox offers its
    // second and later m-lines with port 0 and a=bundle-only, which servers
    // may read as rejected. The server's answer bundles everything anyway.
    const config = { iceServers, bundlePolicy: 'balanced', rtcpMuxPolicy: 'require' };
    this.endDirect();
    this.sfuPaused = false;
    this.layerCaps = { camera: ALL_LAYERS, screen: ALL_LAYERS };
    const pub = new RTCPeerConnection(config);
    const sub = new RTCPeerConnection(config);
    this.pub = pub;
    this.sub = sub;
    this.pubBusy = false;
    this.pubAgain = false;
    this.subChain = Promise.resolve();
    this.subTracks = [];
    this.remoteTracks = new Map();
    this.audioSlots = new Map();

    const audioStream = new MediaStream();
    this.senders.mic = pub.addTransceiver(this.micTrack ?? 'audio', { direction: 'sendonly', streams: [audioStream] });
    this.senders.camera = pub.addTransceiver(this.cameraTrack ?? 'video', {
      direction: 'sendonly',
      streams: [new MediaStream()],
      sendEncodings: SIMULCAST.map((e) => ({ ...e })),
    });
    preferCodecs(this.senders.camera);
    this.encryptSender('mic');
    this.encryptSender('camera');
    this.senders.screen = undefined;
    if (this.screenTrack) this.addScreenTransceiver(this.screenTrack);

    for (const pc of [pub, sub]) {
      pc.addEventListener('connectionstatechange', () => {
        if (gen !== this.generation) return;
        this.mark(`${pc === pub ? 'publish' : 'subscribe'} ${pc.connectionState}`);
        if (pc.connectionState === 'failed') this.connectionLost(gen, 'media');
      });
    }
    sub.addEventListener('track', (e) => {
      if (gen !== this.generation) return;
      if (e.transceiver.mid !== null) this.crypto?.attachReceiver(e.receiver, e.transceiver.mid);
      this.updateRemoteTracks();
    });
    this.health.connecting(Date.now());
    clearInterval(this.healthTimer);
    this.healthTimer = setInterval(() => {
      this.checkHealth(gen).catch(() => {});
    }, HEALTH_CHECK_MS);
  }

  /**
   * Whether what we publish reaches the server: one look (health.js).
   * @param {number} gen
   */
  async checkHealth(gen) {
    const pc = this.pub;
    if (!pc || gen !== this.generation || this.state !== 'joined') return;
    const [mic, camera, crypto] = await Promise.all([packetsSent(this.senders.mic), packetsSent(this.senders.camera),
      this.crypto?.stats() ?? null]);
    if (gen !== this.generation) return;
    if (crypto) this.refreshE2ee(crypto);
    const live = (/** @type {MediaStreamTrack | null} */ t) => !!t && t.readyState === 'live';
    const actions = this.health.observe(Date.now(), {
      publish: pc.connectionState,
      paused: this.sfuPaused || this.mode === 'direct',
      expected: { mic: this.micSending && live(this.micTrack), camera: live(this.cameraTrack) },
      sent: { mic, camera },
      held: { mic: crypto?.sent.mic?.dropped ?? 0, camera: crypto?.sent.camera?.dropped ?? 0 },
    });
    await this.act(actions, gen);
  }

  /**
   * Carries out what health.js decided.
   * @param {import('./health.js').Action[]} actions
   * @param {number} gen
   */
  async act(actions, gen) {
    for (const a of actions) {
      if (gen !== this.generation) return;
      if (a.kind === 'reattach') {
        this.mark(`reattach ${a.source}`);
        const tr = this.senders[a.source];
        const track = a.source === 'mic' ? this.micTrack : this.cameraTrack;
        if (!tr || !track) continue;
        await replaceSent(tr, null);
        await replaceSent(tr, track);
        // On again if something switched it off, but only the layers wanted.
        await this.syncSender(a.source);
      } else if (a.kind === 'reconnect') {
        this.mark('reconnect: media does not arrive');
        this.connectionLost(gen, 'media');
      } else if (a.kind === 'problem') {
        this.mark(`problem: ${a.problem}`);
        this.emit('mediaproblem', { problem: a.problem });
      } else {
        this.mark('media flows again');
        this.emit('mediaproblem', { problem: null });
      }
    }
  }

  /** Tries again at once to get media through: new connections. */
  retryMedia() {
    if (this.state === 'joined') this.connectionLost(this.generation, 'media');
  }

  /** @param {MediaStreamTrack} track */
  addScreenTransceiver(track) {
    if (!this.pub) return;
    const existing = this.senders.screen;
    if (existing && existing.currentDirection !== 'stopped') {
      existing.direction = 'sendonly';
      existing.sender.replaceTrack(track);
      return;
    }
    this.senders.screen = this.pub.addTransceiver(track, { direction: 'sendonly', streams: [new MediaStream()] });
    preferCodecs(this.senders.screen);
    this.encryptSender('screen');
    // Paused during a direct call; the layer cap the server asked for.
    this.syncSender('screen').catch(() => {});
  }

  /** Sends a publish offer for the current tracks, or queues one. */
  async negotiatePublish() {
    const pc = this.pub;
    if (!pc || this.state !== 'joined') return;
    if (this.pubBusy) {
      this.pubAgain = true;
      return;
    }
    this.pubBusy = true;
    const gen = this.generation;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // Sent at once, without waiting for ICE gathering: the server is ICE-lite
    // and learns this browser's address from its connectivity checks.
    if (gen !== this.generation || !pc.localDescription) return;
    /** @type {{mid: string, source: Source}[]} */
    const tracks = [];
    for (const source of /** @type {Source[]} */ (['mic', 'camera', 'screen'])) {
      const t = this.senders[source];
      if (t && t.mid !== null && t.direction === 'sendonly') tracks.push({ mid: t.mid, source });
    }
    this.send({ type: 'publish_offer', sdp: pc.localDescription.sdp, tracks });
    this.mark('publish offer sent');
  }

  /**
   * @param {string} sdp
   * @param {SubscribedTrack[]} tracks
   * @param {number} gen
   */
  async answerSubscribe(sdp, tracks, gen) {
    const pc = this.sub;
    if (!pc || gen !== this.generation) return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    // Every receiver decrypts before its first frame reaches the decoder.
    if (this.crypto) for (const tr of pc.getTransceivers()) if (tr.mid !== null) this.crypto.attachReceiver(tr.receiver, tr.mid);
    const answer = await pc.createAnswer();
    if (gen !== this.generation || !answer.sdp) return;
    // Sent before it is applied, without waiting for ICE gathering. The
    // browser starts its connectivity checks as soon as the answer is
    // applied, and the server (ICE-lite; it learns this browser's address
    // from those checks, so candidates are not needed) can answer them only
    // once it has the answer: checks that come first are held back, the
    // browser backs off, and the connection took seconds instead of
    // milliseconds. The SDP is the same before and after applying it.
    const compact = compactAnswer(answer.sdp);
    this.answerBytes = { plain: answer.sdp.length, sent: compact.length };
    this.send({ type: 'subscribe_answer', sdp: compact });
    this.mark('subscribe answer sent');
    await pc.setLocalDescription(answer);
    this.subTracks = tracks;
    this.updateRemoteTracks();
  }

  /**
   * Maps the subscribe connection's receivers to participants and sources,
   * by mid; while a direct call plays, the peer's tracks come from it.
   */
  updateRemoteTracks() {
    const pc = this.sub;
    if (!pc) return;
    /** @type {Map<string, RemoteTrack>} */
    const next = new Map();
    const byMid = new Map(this.subTracks.map((t) => [t.mid, t]));
    const direct = this.playing;
    for (const tr of pc.getTransceivers()) {
      if (tr.mid === null || tr.currentDirection === 'stopped') continue;
      const info = byMid.get(tr.mid);
      if (info) {
        if (direct && info.participant === direct.peer) continue;
        next.set(info.mid, { ...info, track: tr.receiver.track, receiver: tr.receiver });
      } else if (this.audioSlots.has(tr.mid)) {
        const participant = this.audioSlots.get(tr.mid) ?? null;
        if (direct && participant === direct.peer) continue;
        next.set(tr.mid, { mid: tr.mid, participant, source: 'mic', slot: true, track: tr.receiver.track, receiver: tr.receiver });
      }
    }
    if (direct) {
      const peer = this.participants.get(direct.peer);
      for (const { source, track, receiver } of direct.remoteTracks()) {
        // Only what the server says is on is played: in a direct call the
        // server forwards nothing, so a moderator's mute holds here, with
        // the only listener, even against a client that ignores it.
        if (!peer?.[source]) continue;
        const mid = `direct-${direct.epoch}-${source}`;
        next.set(mid, { mid, participant: direct.peer, source, track, receiver });
      }
    }
    const key = (/** @type {Map<string, RemoteTrack>} */ m) =>
      [...m.values()].map((t) => `${t.mid}:${t.participant}:${t.source}:${t.track.id}`).join(',');
    if (key(next) === key(this.remoteTracks)) return;
    this.remoteTracks = next;
    this.emit('tracks', [...next.values()]);
  }

  /**
   * @param {number} gen
   * @param {'unreachable' | 'lost' | 'media' | 'shutdown'} reason
   */
  connectionLost(gen, reason) {
    if (gen !== this.generation || this.closing) return;
    this.mark(`connection lost: ${reason}`);
    this.generation++;
    clearTimeout(this.connectTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
    this.endDirect();
    this.closePeerConnections();
    if (this.remoteTracks.size) {
      this.remoteTracks = new Map();
      this.emit('tracks', []);
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt++;
    this.setState({ state: 'reconnecting', reason, attempt: this.attempt, retryAt: Date.now() + delay });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Tries again now instead of waiting for the backoff. */
  retryNow() {
    if (this.state !== 'reconnecting' || this.closing) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  closePeerConnections() {
    clearInterval(this.healthTimer);
    for (const pc of [this.pub, this.sub]) pc?.close();
    this.pub = null;
    this.sub = null;
    this.senders = {};
  }

  /** Ends everything without telling the server (it already knows, or is gone). */
  shutDown() {
    this.closing = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    clearTimeout(this.connectTimer);
    this.endDirect();
    this.closePeerConnections();
    this.endE2ee();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    this.setState({ state: 'closed' });
  }

  /** Leaves the room: tells the server, then closes. */
  async leave() {
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN && this.state === 'joined') {
      this.send({ type: 'leave' });
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        ws.addEventListener('close', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    this.shutDown();
  }

  /** @param {object} msg */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** Whether the microphone sends: wanted on, and open. */
  get micSending() {
    return this.micOn && !!this.micTrack;
  }

  sendMediaState() {
    this.send({
      type: 'media_state',
      mic: this.micSending,
      camera: !!this.cameraTrack,
      screen: !!this.screenTrack,
    });
  }

  /**
   * Before turning on a source a moderator muted: our own decision, told
   * to the server, which forwards it again.
   * @param {Source} source
   */
  allow(source) {
    if (this.forced.delete(source)) this.send({ type: 'unmute', source });
  }

  /** @param {boolean} on */
  setMicOn(on) {
    if (on) this.allow('mic');
    this.micOn = on;
    if (this.micTrack) this.micTrack.enabled = on;
    this.sendMediaState();
  }

  /**
   * Replaces the microphone (it opened late, or another was chosen); keeps
   * the mute state.
   * @param {MediaStreamTrack | null} track
   */
  async setMicTrack(track) {
    await this.setMic(track, this.micOn);
  }

  /**
   * The microphone track (null: none open) and whether it is on, in one
   * step: one `media_state` for both.
   * @param {MediaStreamTrack | null} track
   * @param {boolean} on
   */
  async setMic(track, on) {
    if (on && !this.micOn) this.allow('mic');
    const changed = track !== this.micTrack;
    const before = this.micSending;
    this.micTrack = track;
    this.micOn = on;
    if (track) track.enabled = on;
    if (changed) {
      await replaceSent(this.senders.mic, track);
      await this.directTrack('mic', track);
    }
    if (changed || before !== this.micSending) this.sendMediaState();
  }

  /**
   * Turns the camera on (a track) or off (`null`). The m-line stays, so no
   * renegotiation is needed.
   * @param {MediaStreamTrack | null} track
   */
  async setCameraTrack(track) {
    if (track) this.allow('camera');
    this.cameraTrack = track;
    await replaceSent(this.senders.camera, track);
    await this.directTrack('camera', track);
    this.sendMediaState();
  }

  /**
   * Starts (a track) or stops (`null`) sharing the screen; renegotiates.
   * @param {MediaStreamTrack | null} track
   */
  async setScreenTrack(track) {
    if (track) this.allow('screen');
    this.screenTrack = track;
    if (track) {
      this.addScreenTransceiver(track);
    } else if (this.senders.screen) {
      await this.senders.screen.sender.replaceTrack(null);
      this.senders.screen.direction = 'inactive';
    }
    await this.directTrack('screen', track);
    this.sendMediaState();
    await this.negotiatePublish();
  }

  /** @param {boolean} raised */
  setHand(raised) {
    this.handRaised = raised;
    this.send({ type: 'hand', raised });
  }

  /**
   * @param {string} text
   * @returns {boolean} whether it was sent
   */
  sendChat(text) {
    const t = text.trim();
    if (!t || [...t].length > MAX_CHAT_CHARS || this.state !== 'joined') return false;
    this.send({ type: 'chat', text: t });
    return true;
  }

  /**
   * A private message to one participant of the room.
   * @param {string} to participant id
   * @param {string} text
   * @returns {boolean} whether it was sent
   */
  sendPrivateChat(to, text) {
    const t = text.trim();
    if (!t || [...t].length > MAX_CHAT_CHARS || this.state !== 'joined') return false;
    this.send({ type: 'private_chat', to, text: t });
    return true;
  }

  /**
   * The room password, in answer to `password_required`; kept in memory
   * for a reconnect.
   * @param {string} password
   */
  sendPassword(password) {
    this.password = password;
    this.passwordSent = true;
    this.send({ type: 'password', password });
  }

  /**
   * A moderator action (docs/protocol.md, "More messages"); the server
   * checks the role and answers `not_moderator` to anyone else.
   * @param {{type: 'mute' | 'ask_unmute', id: string, source: Source}
   *   | {type: 'mute_all', source: Source}
   *   | {type: 'remove' | 'grant_moderator' | 'lobby_admit' | 'lobby_deny', id: string}
   *   | {type: 'lower_hands' | 'end_meeting' | 'breakout_random' | 'breakout_close_all' | 'enable_e2ee'}
   *   | {type: 'record_start' | 'record_stop'}
   *   | {type: 'set_password', password: string | null}
   *   | {type: 'set_lobby', enabled: boolean}
   *   | {type: 'breakout_create', names: string[]}
   *   | {type: 'breakout_assign', id: string, room: string | null}
   *   | {type: 'breakout_broadcast', text: string}
   *   | {type: 'lobby_message', id: string, text: string}} msg
   */
  moderate(msg) {
    this.send(msg);
  }

  /** (Appointments) asks to share our screen: the therapist asks the patients, a patient the therapist. */
  requestScreen() {
    this.send({ type: 'screen_request' });
  }

  /**
   * (Appointments) our answer to someone's screen request.
   * @param {string} id who asked
   * @param {boolean} allow
   */
  answerScreen(id, allow) {
    this.send({ type: 'screen_answer', id, allow });
  }

  /**
   * Our answer to a recording consent request; `false` later withdraws a
   * consent given (our recording stops at once).
   * @param {boolean} agree
   */
  recordingConsent(agree) {
    this.send({ type: 'recording_consent', agree });
  }

  /**
   * Reports how large each remote video is rendered; sent only on change.
   * @param {VideoSize[]} sizes
   */
  sendVideoSizes(sizes) {
    this.sizes = sizes;
    const key = JSON.stringify(sizes);
    if (key === this.lastSizes || this.state !== 'joined') return;
    this.lastSizes = key;
    this.send({ type: 'video_sizes', sizes });
  }

  /**
   * The connections' statistics (null when not connected; `direct`: the
   * direct call being played).
   * @returns {Promise<{publish: RTCStatsReport | null, subscribe: RTCStatsReport | null,
   *   direct: RTCStatsReport | null}>}
   */
  async stats() {
    const [publish, subscribe, direct] = await Promise.all([
      this.pub?.getStats() ?? null,
      this.sub?.getStats() ?? null,
      this.playing?.pc.getStats() ?? null,
    ]);
    return { publish, subscribe, direct };
  }

  // ---- end-to-end encryption (docs/e2ee.md) ----------------------------

  /**
   * The meeting is end-to-end encrypted: the frame worker, the key
   * exchange, and a transform on every sender and receiver there is.
   * Called before the connections exist when `welcome` says so, or when a
   * moderator turns it on. False when this browser cannot do it (the
   * session then leaves: it must not send or show media in clear).
   * @returns {boolean}
   */
  startE2ee() {
    this.e2ee = true;
    if (!isSupported()) {
      this.emit('e2eeunsupported', null);
      this.leave().catch(() => {});
      return false;
    }
    if (!this.linkKey) {
      // No key in the link: this participant starts the meeting's key, and
      // the address shows it to be shared (whoever has another cannot decrypt).
      this.linkKey = newLinkKey();
      this.emit('linkkey', this.linkKey);
    }
    if (!this.crypto) this.crypto = new FrameCrypto();
    const crypto = this.crypto;
    this.keys ??= new KeyExchange({
      room: this.room,
      linkKey: this.linkKey,
      send: (to, data) => {
        if (this.state === 'joined') this.send({ type: 'e2ee', to, data });
      },
      keys: (update) => crypto.update(update),
      changed: () => this.refreshE2ee(crypto.last),
    });
    if (this.you) this.keys.start(this.you.id, [...this.participants.keys()]);
    // Switched on during the meeting: what exists now is encrypted from here on.
    for (const source of /** @type {Source[]} */ (['mic', 'camera', 'screen'])) this.encryptSender(source);
    for (const tr of this.sub?.getTransceivers() ?? []) if (tr.mid !== null) crypto.attachReceiver(tr.receiver, tr.mid);
    for (const call of new Set([this.direct, this.playing])) call?.encrypt(crypto);
    this.refreshE2ee(null);
    return true;
  }

  /** @param {Source} source */
  encryptSender(source) {
    const tr = this.senders[source];
    if (this.crypto && tr) this.crypto.attachSender(tr.sender, source === 'mic' ? 'audio' : 'video', source);
  }

  /**
   * What end-to-end encryption looks like now, from the key exchange and
   * what the worker reported; `e2ee` is emitted when it changed.
   * @param {import('./e2ee-media.js').WorkerStats | null} st
   */
  refreshE2ee(st) {
    const keys = this.keys;
    /** @type {E2eeStatus} */
    const next = { on: this.e2ee, allOk: false, code: null, linkMismatch: false, peers: {}, ownIndex: null };
    if (this.e2ee && keys) {
      const now = st?.now ?? Date.now();
      // Frames of a sender failed lately and none decrypted since.
      const failing = (/** @type {number | null} */ keyId) => {
        const k = st?.keys.find((x) => x.keyId === keyId);
        return !!k && k.lastFail > k.lastOk && now - k.lastFail < E2EE_FAILING_MS;
      };
      let allOk = true;
      let untrusted = 0;
      for (const p of this.participants.values()) {
        const state = keys.peerState(p.id);
        /** @type {PeerKeyState} */
        const shown = state === 'untrusted' ? 'untrusted' : state === 'waiting' || failing(keys.keyIdOf(p.id)) ? 'waiting' : 'ok';
        next.peers[p.id] = shown;
        if (shown === 'untrusted') untrusted++;
        // Someone who sends nothing brings no stream that could fail to decrypt.
        if (shown !== 'ok' && (p.mic || p.camera || p.screen)) allOk = false;
      }
      // A stream that brings frames in clear: never shown, and not end-to-end encrypted.
      if (st?.streams.some((x) => x.clear > 0 && x.lastFail > x.lastOk && now - x.lastFail < E2EE_FAILING_MS)) allOk = false;
      next.allOk = allOk;
      next.code = keys.code;
      next.linkMismatch = this.participants.size > 0 && untrusted === this.participants.size;
      next.ownIndex = st?.own?.index ?? keys.ownIndex;
    }
    if (JSON.stringify(next) === JSON.stringify(this.e2eeStatus)) return;
    this.e2eeStatus = next;
    this.emit('e2ee', next);
  }

  /** Forgets every key: the person left. */
  endE2ee() {
    this.keys?.stop();
    this.keys = null;
    this.crypto?.close();
    this.crypto = null;
  }

  // ---- direct calls (docs/protocol.md, "Direct calls") --------------------

  /**
   * The server asks for a direct connection with `peer`.
   * @param {number} epoch
   * @param {string} peer
   * @param {boolean} offerer
   * @param {IceServer[]} iceServers
   * @param {number} gen
   */
  startDirect(epoch, peer, offerer, iceServers, gen) {
    if (this.direct) this.dropDirect(this.direct);
    const call = new DirectCall({
      epoch,
      peer,
      offerer,
      iceServers,
      send: (msg) => {
        if (gen === this.generation && this.direct === call) this.send(msg);
      },
      tracks: { mic: this.micTrack, camera: this.cameraTrack, screen: this.screenTrack },
      crypto: this.crypto,
      peerSends: () => {
        const p = this.participants.get(peer);
        return { mic: !!p?.mic, camera: !!p?.camera };
      },
    });
    this.direct = call;
    call.addEventListener('ready', () => {
      if (gen !== this.generation || this.direct !== call) return;
      // The direct streams play: show them instead of the server's (which
      // keep coming until the server says both sides are ready).
      const before = this.playing;
      this.playing = call;
      this.updateRemoteTracks();
      if (before && before !== call) this.dropDirect(before);
      this.send({ type: 'p2p_ready', epoch });
    });
    call.addEventListener('failed', () => {
      if (gen !== this.generation || this.direct !== call) return;
      // The server answers with p2p_stop; the call stays on (or goes back
      // to) the server's streams.
      this.send({ type: 'p2p_failed', epoch });
    });
  }

  /**
   * The direct call ends: send to the server again at once, keep playing
   * the direct streams until the server's play, then close it.
   * @param {number} gen
   */
  leaveDirect(gen) {
    const call = this.direct;
    if (!call) return;
    this.direct = null;
    this.setMode('server');
    this.setSfuPaused(false).catch(() => {});
    if (this.playing !== call) {
      call.close();
      return;
    }
    const peer = this.participants.get(call.peer);
    if (!peer || call.failed) {
      this.dropDirect(call);
      return;
    }
    const deadline = Date.now() + LEAVE_DIRECT_MAX_MS;
    /** @type {{frames: number, audio: number} | null} */
    let baseline = null;
    const poll = async () => {
      if (gen !== this.generation || this.playing !== call) return;
      const now = await this.serverReceived(call.peer);
      baseline ??= now;
      const p = this.participants.get(call.peer);
      const flowing = p?.camera ? now.frames > baseline.frames : now.audio > baseline.audio || !p?.mic;
      if (flowing || call.failed || !p || Date.now() > deadline) {
        this.dropDirect(call);
      } else {
        setTimeout(poll, LEAVE_DIRECT_POLL_MS);
      }
    };
    poll().catch(() => this.dropDirect(call));
  }

  /**
   * Stops playing `call` (the server's streams take over) and closes it a
   * little later, so the other side can switch in its own time.
   * @param {DirectCall} call
   */
  dropDirect(call) {
    if (this.playing === call) {
      this.playing = null;
      this.updateRemoteTracks();
    }
    if (this.direct === call) this.direct = null;
    setTimeout(() => call.close(), call.failed ? 0 : LEAVE_DIRECT_LINGER_MS);
  }

  /** Ends every direct call at once (the connection to the server is gone or replaced). */
  endDirect() {
    for (const call of [this.direct, this.playing]) call?.close();
    this.direct = null;
    this.playing = null;
    this.setMode('server');
  }

  /**
   * What the subscribe connection received so far of `participant`.
   * @param {string} participant
   * @returns {Promise<{frames: number, audio: number}>}
   */
  async serverReceived(participant) {
    let frames = 0;
    let audio = 0;
    const pc = this.sub;
    if (!pc) return { frames, audio };
    const mids = new Set(this.subTracks.filter((t) => t.participant === participant && t.source !== 'screen').map((t) => t.mid));
    for (const tr of pc.getTransceivers()) {
      if (tr.mid === null || !mids.has(tr.mid)) continue;
      const report = await tr.receiver.getStats();
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') frames += s.framesDecoded ?? 0;
        else audio += s.packetsReceived ?? 0;
      });
    }
    return { frames, audio };
  }

  /**
   * Pauses (or resumes) everything sent to the server, without
   * renegotiating: the encodings are set inactive, the tracks stay.
   * @param {boolean} paused
   */
  async setSfuPaused(paused) {
    this.sfuPaused = paused;
    await this.syncSenders();
  }

  /**
   * Brings a sender's encodings to what is wanted now: all off while
   * sending to the server is paused, otherwise on up to the source's layer
   * cap (layers.js; changes of one sender run one after another).
   * @param {Source} source
   * @returns {Promise<void>}
   */
  async syncSender(source) {
    const tr = this.senders[source];
    if (!tr) return;
    const sender = tr.sender;
    const cap = () => (source === 'mic' ? ALL_LAYERS : this.layerCaps[source]);
    // Read when the change runs; a sender of an older connection is left as it is.
    await updateSender(sender, () => (this.senders[source]?.sender === sender ? { sending: !this.sfuPaused, cap: cap() } : null));
  }

  /** Every sender as wanted now (see `syncSender`). */
  async syncSenders() {
    await Promise.all((/** @type {Source[]} */ (['mic', 'camera', 'screen'])).map((s) => this.syncSender(s)));
  }

  /**
   * @param {Source} source
   * @param {MediaStreamTrack | null} track
   */
  async directTrack(source, track) {
    const calls = new Set([this.direct, this.playing]);
    await Promise.all([...calls].map((c) => c?.setTrack(source, track)));
  }

  /** @param {MediaMode} mode */
  setMode(mode) {
    if (this.mode === mode) return;
    this.mode = mode;
    this.emit('mode', mode);
  }
}

/**
 * Packets sent so far by `transceiver` (all its encodings).
 * @param {RTCRtpTransceiver | undefined} transceiver
 */
async function packetsSent(transceiver) {
  if (!transceiver) return 0;
  let n = 0;
  try {
    (await transceiver.sender.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp') n += s.packetsSent ?? 0;
    });
  } catch {
    // Closed meanwhile: counts as nothing sent; the next connection is watched anew.
  }
  return n;
}

/**
 * Sends `track` on `transceiver` (if there is one yet: otherwise the
 * track is added when the connection is set up). A connection closed
 * meanwhile (a reconnect) is no error: the next one takes the track.
 * @param {RTCRtpTransceiver | undefined} transceiver
 * @param {MediaStreamTrack | null} track
 */
async function replaceSent(transceiver, track) {
  if (!transceiver || transceiver.sender.track === track) return;
  try {
    await transceiver.sender.replaceTrack(track);
  } catch {
    // Closed or stopped: the session's next connection uses the track.
  }
}

/**
 * Prefers VP8 for video (every browser encodes simulcast with it; the SFU
 * forwards without transcoding, so publishers and subscribers must agree).
 * @param {RTCRtpTransceiver} transceiver
 */
function preferCodecs(transceiver) {
  const caps = typeof RTCRtpSender.getCapabilities === 'function' ? RTCRtpSender.getCapabilities('video') : null;
  if (!caps || typeof transceiver.setCodecPreferences !== 'function') return;
  const rank = (/** @type {{mimeType: string}} */ c) => (c.mimeType.toLowerCase() === 'video/vp8' ? 0 : 1);
  const codecs = [...caps.codecs].sort((a, b) => rank(a) - rank(b));
  try {
    transceiver.setCodecPreferences(codecs);
  } catch {
    // Not supported for this transceiver: the browser's default order stays.
  }
}

/**
 * How media travels, from the selected candidate pair: straight over UDP,
 * over TCP (ICE-TCP on the server's HTTPS port, when UDP is blocked), or
 * through a TURN relay reached over TLS, TCP or UDP. The direct connection
 * counts first, then the subscribe and the publish connections.
 * @param {{publish: RTCStatsReport | null, subscribe: RTCStatsReport | null, direct?: RTCStatsReport | null}} now
 * @returns {Transport}
 */
export function transportFromStats(now) {
  for (const report of [now.direct ?? null, now.subscribe, now.publish]) {
    if (!report) continue;
    /** @type {any} */ let pair = null;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId) ?? pair;
    });
    // Firefox has no transport entry; it marks the pair itself.
    if (!pair) {
      report.forEach((s) => {
        if (s.type === 'candidate-pair' && s.selected) pair = s;
      });
    }
    const local = pair ? report.get(pair.localCandidateId) : null;
    if (!local) continue;
    if (local.candidateType === 'relay') {
      const via = String(local.relayProtocol ?? 'udp').toLowerCase();
      return via === 'tls' ? 'tls-relay' : via === 'tcp' ? 'tcp-relay' : 'udp-relay';
    }
    return String(local.protocol).toLowerCase() === 'tcp' ? 'tcp' : 'udp';
  }
  return 'unknown';
}

/**
 * A connection quality from WebRTC statistics: the worst of packet loss and
 * round-trip time seen since `previous`.
 * @param {{publish: RTCStatsReport | null, subscribe: RTCStatsReport | null, direct?: RTCStatsReport | null}} now
 * @param {{lost: number, received: number}} previous running totals, updated in place
 * @returns {Quality}
 */
export function qualityFromStats(now, previous) {
  let lost = 0;
  let received = 0;
  /** @type {number[]} */
  const rtts = [];
  let fractionLost = 0;
  for (const report of [now.publish, now.subscribe, now.direct ?? null]) {
    report?.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        lost += s.packetsLost ?? 0;
        received += s.packetsReceived ?? 0;
      } else if (s.type === 'remote-inbound-rtp') {
        if (typeof s.fractionLost === 'number') fractionLost = Math.max(fractionLost, s.fractionLost);
        if (typeof s.roundTripTime === 'number') rtts.push(s.roundTripTime);
      } else if (s.type === 'candidate-pair' && (s.nominated || s.selected) && s.state === 'succeeded') {
        if (typeof s.currentRoundTripTime === 'number') rtts.push(s.currentRoundTripTime);
      }
    });
  }
  if (!now.publish && !now.subscribe) return 'unknown';
  const dLost = Math.max(0, lost - previous.lost);
  const dReceived = Math.max(0, received - previous.received);
  previous.lost = lost;
  previous.received = received;
  const loss = Math.max(fractionLost, dLost + dReceived > 0 ? dLost / (dLost + dReceived) : 0);
  const rtt = rtts.length ? Math.max(...rtts) : 0;
  if (loss > 0.1 || rtt > 0.5) return 'poor';
  if (loss > 0.03 || rtt > 0.25) return 'fair';
  if (rtts.length === 0 && dReceived === 0) return 'unknown';
  return 'good';
}
