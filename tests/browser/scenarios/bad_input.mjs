// Bad input leaves other participants' calls untouched: malformed,
// duplicate-key, oversized and binary signalling from raw WebSockets in a
// page of the same origin, a joined participant sending garbage SDP, and
// random UDP datagrams at the media port.
// Usage: bad_input.mjs <media-port>
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import { BASE_URL, inbound, joinAll, launch, newPage, scenario, sleep, uniqueRoom, waitAllReceiving } from '../lib/harness.mjs';

const mediaPort = Number(process.argv[2]);

/** Frames and packets the page receives from `name`. */
async function flow(page, name) {
  const st = await inbound(page);
  const video = st.tracks.find((t) => t.name === name && t.source === 'camera');
  const audio = st.tracks.find((t) => t.name === name && t.source === 'mic');
  return { frames: video?.framesDecoded ?? 0, audio: audio?.packetsReceived ?? 0 };
}

async function sendUdpJunk(count) {
  const sock = dgram.createSocket('udp4');
  for (let i = 0; i < count; i++) {
    const len = crypto.randomInt(0, 1400);
    const buf = crypto.randomBytes(len);
    // Look like STUN, DTLS, RTP now and then, to reach deeper code paths.
    if (len > 20 && i % 4 === 0) buf.writeUInt32BE(0x0001_0000 | (len - 20), 0), buf.writeUInt32BE(0x2112a442, 4);
    if (len > 13 && i % 4 === 1) buf[0] = 22;
    if (len > 12 && i % 4 === 2) buf[0] = 0x80;
    await new Promise((r) => sock.send(buf, mediaPort, '127.0.0.1', r));
  }
  sock.close();
}

await scenario(async () => {
  const browser = await launch();
  const room = uniqueRoom('robust');
  const people = [{ name: 'Steady One' }, { name: 'Steady Two' }];
  await joinAll(browser, room, people);
  await waitAllReceiving(people, 10000);
  const generations = await Promise.all(people.map((p) => p.page.evaluate(() => window.kabineDebug.session.generation)));
  const before = [await flow(people[0].page, 'Steady Two'), await flow(people[1].page, 'Steady One')];

  const attacker = await newPage(browser, 'attacker');
  await attacker.goto(`${BASE_URL}/`, { waitUntil: 'load' });
  const wsResults = await attacker.evaluate(async (room) => {
    const url = `wss://${location.host}/ws`;
    /**
     * Opens a socket, sends each frame in turn, collects replies and the
     * close for `settleMs` after the last frame (counted from then, not from
     * the start: on a loaded machine the TLS handshake alone can take a
     * second).
     */
    const run = (frames, settleMs = 1000) => new Promise((resolve) => {
      const ws = new WebSocket(url);
      const got = { replies: [], close: null };
      let opened = false;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        // A snapshot: our own close below must not count as the server's.
        resolve({ replies: [...got.replies], close: got.close });
        if (ws.readyState === WebSocket.OPEN) ws.close();
      };
      ws.onmessage = (e) => {
        try {
          const m = JSON.parse(e.data);
          got.replies.push(m.type === 'error' ? `error:${m.code}` : m.type);
        } catch {
          got.replies.push('unparsable');
        }
      };
      ws.onclose = (e) => {
        got.close = e.code;
        if (!opened) finish();
      };
      ws.onopen = async () => {
        opened = true;
        for (const f of frames) {
          if (ws.readyState !== WebSocket.OPEN) break;
          ws.send(f);
          await new Promise((r) => setTimeout(r, 100));
        }
        setTimeout(finish, settleMs);
      };
      // Whatever happens, an answer.
      setTimeout(finish, 20000);
    });
    const hello = (name) => JSON.stringify({ type: 'hello', version: 1, room, display_name: name });
    return {
      malformed: await run(['{', 'null', '[]', '{"type":"fly"}', '{"type":"hand","raised":true}']),
      duplicate: await run(['{"type":"hello","version":1,"room":"x","display_name":"a","display_name":"b"}']),
      oversized: await run(['{"type":"chat","text":"' + 'x'.repeat(70 * 1024) + '"}']),
      binary: await run([new Uint8Array([1, 2, 3, 4])]),
      version: await run([JSON.stringify({ type: 'hello', version: 99, room, display_name: 'Old' })]),
      badRoom: await run([JSON.stringify({ type: 'hello', version: 1, room: '../etc', display_name: 'X' })]),
      joinedGarbage: await run([
        hello('Mallory'),
        JSON.stringify({ type: 'publish_offer', sdp: 'v=0\r\ngarbage', tracks: [{ mid: '0', source: 'mic' }] }),
        JSON.stringify({ type: 'subscribe_answer', sdp: 'not sdp at all' }),
        JSON.stringify({ type: 'video_sizes', sizes: [{ participant: 'nobody', source: 'camera', width: 4294967295, height: 0 }] }),
        JSON.stringify({ type: 'chat', text: 'y'.repeat(3000) }),
        JSON.stringify({ type: 'hello', version: 1, room, display_name: 'Again' }),
        JSON.stringify({ type: 'media_state', mic: true, camera: true, screen: true }),
      ], 2000),
    };
  }, room);
  await sendUdpJunk(500);
  await sleep(3000);
  const after = [await flow(people[0].page, 'Steady Two'), await flow(people[1].page, 'Steady One')];
  const generationsAfter = await Promise.all(people.map((p) => p.page.evaluate(() => window.kabineDebug.session.generation)));
  const states = await Promise.all(people.map((p) => p.page.evaluate(() => window.kabineDebug.session.state)));
  return { wsResults, before, after, generations, generationsAfter, states };
});
