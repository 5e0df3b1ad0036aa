// @ts-check
// A direct call: one RTCPeerConnection straight to the other participant of
// a call of two (docs/protocol.md, "Direct calls"). The server relays only
// the offer, the answer and the candidates; the media is encrypted end to
// end (DTLS-SRTP) between the two browsers. No DOM.
//
// Both sides use the same three m-lines, in this order, each sending and
// receiving: microphone, camera, screen. Turning the camera on or off and
// starting or stopping a screen share are `replaceTrack` calls, so the
// connection is negotiated exactly once and never renegotiated.
//
// In an end-to-end encrypted meeting every frame is encrypted here too
// (`encrypt`), with the same sender keys as towards the server: the
// fingerprints of this connection's DTLS travel through the server, which
// could otherwise sit in the middle. Video is VP8 either way, so the
// encryption's clear header bytes are the ones the depacketizer reads.
//
// Events (CustomEvent, no detail): `ready` once the other's media plays
// over this connection (connected, and decoding video if their camera is
// on, audio if their microphone is on); `failed` when the connection fails
// or is lost.

/**
 * @typedef {import('./protocol.js').IceServer} IceServer
 * @typedef {import('./protocol.js').Source} Source
 * @typedef {{mic: MediaStreamTrack | null, camera: MediaStreamTrack | null, screen: MediaStreamTrack | null}} LocalTracks
 * @typedef {{source: Source, track: MediaStreamTrack, receiver: RTCRtpReceiver}} DirectTrack
 */

/** The m-lines of a direct connection, in order. */
export const DIRECT_SOURCES = /** @type {const} */ (['mic', 'camera', 'screen']);

/** How often the connection is checked for playing media. */
const WATCH_MS = 100;
/** A connection `disconnected` this long counts as lost. */
const DISCONNECTED_GRACE_MS = 2000;

export class DirectCall extends EventTarget {
  /**
   * @param {{epoch: number, peer: string, offerer: boolean, iceServers: IceServer[],
   *   send: (msg: object) => void, tracks: LocalTracks, crypto?: import('./e2ee-media.js').FrameCrypto | null,
   *   peerSends: () => {mic: boolean, camera: boolean}}} options
   *   `send` sends a signalling message; `peerSends` tells what the other
   *   participant has switched on (from the server's participant list).
   */
  constructor(options) {
    super();
    this.epoch = options.epoch;
    this.peer = options.peer;
    this.offerer = options.offerer;
    this.send = options.send;
    this.peerSends = options.peerSends;
    /** End-to-end encryption of the meeting, if it is on. */
    this.crypto = options.crypto ?? null;
    /** @type {LocalTracks} */
    this.tracks = { ...options.tracks };
    this.ready = false;
    this.closed = false;
    this.failed = false;
    /** Remote candidates that came before the remote description. @type {RTCIceCandidateInit[]} */
    this.early = [];
    /** @type {ReturnType<typeof setTimeout> | undefined} */ this.lostTimer = undefined;
    this.pc = new RTCPeerConnection({ iceServers: options.iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.stream = new MediaStream();
    const pc = this.pc;
    pc.addEventListener('icecandidate', (e) => {
      if (this.closed || !e.candidate || !e.candidate.candidate) return;
      this.send({
        type: 'p2p_candidate',
        epoch: this.epoch,
        candidate: e.candidate.candidate,
        sdp_mid: e.candidate.sdpMid,
        sdp_m_line_index: e.candidate.sdpMLineIndex,
      });
    });
    pc.addEventListener('connectionstatechange', () => this.onState());
    this.watchTimer = setInterval(() => {
      this.watch().catch(() => {});
    }, WATCH_MS);
    if (this.offerer) this.offer().catch(() => this.fail());
  }

  async offer() {
    for (const source of DIRECT_SOURCES) {
      const kind = source === 'mic' ? 'audio' : 'video';
      preferVp8(this.pc.addTransceiver(this.tracks[source] ?? kind, { direction: 'sendrecv', streams: [this.stream] }));
    }
    if (this.crypto) this.encrypt(this.crypto);
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    if (this.closed) return;
    // Candidates follow one by one (trickle): the offer goes out at once.
    this.send({ type: 'p2p_offer', epoch: this.epoch, sdp: offer.sdp });
  }

  /** @param {string} sdp the peer's offer (this side answers) */
  async onOffer(sdp) {
    if (this.offerer || this.closed) return;
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      const transceivers = this.pc.getTransceivers();
      await Promise.all(DIRECT_SOURCES.map(async (source, i) => {
        const tr = transceivers[i];
        if (!tr) return;
        tr.direction = 'sendrecv';
        tr.sender.setStreams?.(this.stream);
        preferVp8(tr);
        await tr.sender.replaceTrack(this.tracks[source]);
      }));
      if (this.crypto) this.encrypt(this.crypto);
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      if (this.closed) return;
      this.send({ type: 'p2p_answer', epoch: this.epoch, sdp: answer.sdp });
      await this.addEarlyCandidates();
    } catch {
      this.fail();
    }
  }

  /** @param {string} sdp the peer's answer */
  async onAnswer(sdp) {
    if (!this.offerer || this.closed) return;
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
      await this.addEarlyCandidates();
    } catch {
      this.fail();
    }
  }

  /** @param {RTCIceCandidateInit} candidate one of the peer's candidates */
  async onCandidate(candidate) {
    if (this.closed) return;
    if (!this.pc.remoteDescription) {
      this.early.push(candidate);
      return;
    }
    // A candidate the browser cannot use is skipped; others may work.
    await this.pc.addIceCandidate(candidate).catch(() => {});
  }

  async addEarlyCandidates() {
    const early = this.early;
    this.early = [];
    for (const c of early) await this.pc.addIceCandidate(c).catch(() => {});
  }

  /**
   * Encrypts what this connection sends and decrypts what it receives
   * (the meeting is end-to-end encrypted).
   * @param {import('./e2ee-media.js').FrameCrypto} crypto
   */
  encrypt(crypto) {
    this.crypto = crypto;
    DIRECT_SOURCES.forEach((source, i) => {
      const tr = this.pc.getTransceivers()[i];
      if (!tr) return;
      crypto.attachSender(tr.sender, source === 'mic' ? 'audio' : 'video', source);
      crypto.attachReceiver(tr.receiver, `direct-${this.epoch}-${source}`);
    });
  }

  /** The transceiver of a source: the m-lines are in `DIRECT_SOURCES` order. */
  /** @param {Source} source */
  transceiver(source) {
    return this.pc.getTransceivers()[DIRECT_SOURCES.indexOf(source)];
  }

  /**
   * Sends another local track (or none) for `source`.
   * @param {Source} source
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(source, track) {
    this.tracks[source] = track;
    const tr = this.transceiver(source);
    if (tr && !this.closed) await tr.sender.replaceTrack(track).catch(() => {});
  }

  /** The other's tracks on this connection. @returns {DirectTrack[]} */
  remoteTracks() {
    if (this.closed) return [];
    /** @type {DirectTrack[]} */
    const out = [];
    DIRECT_SOURCES.forEach((source, i) => {
      const tr = this.pc.getTransceivers()[i];
      if (tr) out.push({ source, track: tr.receiver.track, receiver: tr.receiver });
    });
    return out;
  }

  /**
   * What has arrived so far: decoded video frames (camera) and audio packets.
   * @returns {Promise<{frames: number, audio: number}>}
   */
  async received() {
    let frames = 0;
    let audio = 0;
    for (const { source, receiver } of this.remoteTracks()) {
      if (source === 'screen') continue;
      const report = await receiver.getStats();
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (source === 'camera') frames += s.framesDecoded ?? 0;
        else audio += s.packetsReceived ?? 0;
      });
    }
    return { frames, audio };
  }

  async watch() {
    if (this.closed || this.ready || this.pc.connectionState !== 'connected') return;
    const wants = this.peerSends();
    const got = await this.received();
    if (this.closed || this.ready) return;
    if ((wants.camera && got.frames === 0) || (wants.mic && got.audio === 0)) return;
    this.ready = true;
    clearInterval(this.watchTimer);
    this.dispatchEvent(new CustomEvent('ready'));
  }

  onState() {
    if (this.closed) return;
    const state = this.pc.connectionState;
    clearTimeout(this.lostTimer);
    if (state === 'failed' || state === 'closed') {
      this.fail();
    } else if (state === 'disconnected') {
      // Often a brief loss that ICE repairs by itself; if not, give up.
      this.lostTimer = setTimeout(() => this.fail(), DISCONNECTED_GRACE_MS);
    }
  }

  fail() {
    if (this.closed || this.failed) return;
    this.failed = true;
    this.dispatchEvent(new CustomEvent('failed'));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchTimer);
    clearTimeout(this.lostTimer);
    this.pc.close();
  }
}

/**
 * Prefers VP8 for a video transceiver, as towards the server.
 * @param {RTCRtpTransceiver} tr
 */
function preferVp8(tr) {
  if (tr.receiver.track.kind !== 'video' || typeof tr.setCodecPreferences !== 'function') return;
  const caps = typeof RTCRtpReceiver.getCapabilities === 'function' ? RTCRtpReceiver.getCapabilities('video') : null;
  if (!caps) return;
  const rank = (/** @type {{mimeType: string}} */ c) => (c.mimeType.toLowerCase() === 'video/vp8' ? 0 : 1);
  try {
    tr.setCodecPreferences([...caps.codecs].sort((a, b) => rank(a) - rank(b)));
  } catch {
    // Not supported here: the browser's own order stays.
  }
}
