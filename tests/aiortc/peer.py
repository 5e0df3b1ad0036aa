"""Participants of a Kabine call written with aiortc, from docs/protocol.md
alone: a second WebRTC stack that proves the documented protocol is enough.

Usage: peer.py HOST:PORT ROOM NAME [NAME ...]

Each NAME joins ROOM over wss://HOST:PORT/ws, publishes a microphone and a
single-layer camera (aiortc has no simulcast), answers the server's
subscribe offers, follows `audio_slots`, declines direct calls, and counts
the video frames and audio frames it decodes from everyone else. It prints
progress lines to stderr and, when every participant has decoded --frames
video and audio frames of every other one (or after --seconds), one line
on stdout:

    RESULT {"peers": {NAME: {"id": ..., "video_frames": {ID: n}, ...}}, ...}

The test server's certificate is self-signed: verification is off here
only. aioice leaves out loopback addresses when it gathers; on a test
machine everything is on 127.0.0.1, so it is told to use that address.
"""

import argparse
import asyncio
import json
import ssl
import sys
import time

import aioice.ice
import websockets
from aiortc import (
    AudioStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

# The server bundles every m-section of a connection on one transport
# (docs/protocol.md, *SDP*). aiortc's default, "balanced", gives a second
# m-section of a kind in the server's first offer a transport of its own
# and loses it when the BUNDLE group is applied.
BUNDLED = RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Participant:
    def __init__(self, server, room, name, sdp_dir):
        self.server = server
        self.room = room
        self.name = name
        self.sdp_dir = sdp_dir
        self.id = None
        self.ws = None
        self.publish = None
        self.subscribe = None
        # mid -> (participant id, source) from subscribe_offer.tracks
        self.video_mids = {}
        # mid -> participant id (or None) from audio_slots
        self.audio_slots = {}
        self.video_frames = {}
        self.audio_frames = {}
        self.messages = {}
        self.errors = []
        self.order = []
        self.consumers = []

    def count(self, message_type):
        self.messages[message_type] = self.messages.get(message_type, 0) + 1
        if len(self.order) < 40:
            self.order.append(message_type)

    async def send(self, message):
        await self.ws.send(json.dumps(message))

    async def run(self):
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        # A non-browser client sends the Origin a browser would: the server's own.
        origin = f"https://{self.server}"
        async with websockets.connect(
            f"wss://{self.server}/ws", ssl=tls, origin=origin, max_size=None
        ) as ws:
            self.ws = ws
            await self.send(
                {"type": "hello", "version": 1, "room": self.room, "display_name": self.name}
            )
            async for text in ws:
                message = json.loads(text)
                kind = message.get("type")
                self.count(kind)
                handler = getattr(self, "on_" + str(kind), None)
                if handler is not None:
                    await handler(message)
                # Every other type is ignored, as the protocol asks of clients.

    async def on_welcome(self, message):
        self.id = message["you"]["id"]
        log(self.name, "welcome as", self.id, "ice_servers", message["ice_servers"])
        self.publish = RTCPeerConnection(BUNDLED)
        mic = self.publish.addTransceiver(AudioStreamTrack(), direction="sendonly")
        camera = self.publish.addTransceiver(VideoStreamTrack(), direction="sendonly")
        offer = await self.publish.createOffer()
        await self.publish.setLocalDescription(offer)
        tracks = [
            {"mid": mic.mid, "source": "mic"},
            {"mid": camera.mid, "source": "camera"},
        ]
        await self.send(
            {"type": "publish_offer", "sdp": self.publish.localDescription.sdp, "tracks": tracks}
        )
        await self.send({"type": "media_state", "mic": True, "camera": True, "screen": False})

    async def on_publish_answer(self, message):
        self.save("publish-answer", message["sdp"])
        await self.publish.setRemoteDescription(
            RTCSessionDescription(sdp=message["sdp"], type="answer")
        )

    async def on_subscribe_offer(self, message):
        self.save("subscribe-offer", message["sdp"])
        for track in message["tracks"]:
            self.video_mids[track["mid"]] = (track["participant"], track["source"])
        if self.subscribe is None:
            self.subscribe = RTCPeerConnection(BUNDLED)
            self.subscribe.on("track", self.on_track)
        await self.subscribe.setRemoteDescription(
            RTCSessionDescription(sdp=message["sdp"], type="offer")
        )
        answer = await self.subscribe.createAnswer()
        await self.subscribe.setLocalDescription(answer)
        self.save("subscribe-answer", self.subscribe.localDescription.sdp)
        await self.send({"type": "subscribe_answer", "sdp": self.subscribe.localDescription.sdp})

    async def on_audio_slots(self, message):
        self.audio_slots = {s["mid"]: s["participant"] for s in message["slots"]}

    async def on_p2p_start(self, message):
        # This client does not do direct calls: it says so, and the call
        # stays on the server.
        await self.send({"type": "p2p_failed", "epoch": message["epoch"]})

    async def on_error(self, message):
        self.errors.append(message)
        log(self.name, "error", message)

    def on_track(self, track):
        transceiver = next(
            (t for t in self.subscribe.getTransceivers() if t.receiver.track is track), None
        )
        mid = transceiver.mid if transceiver else None
        self.consumers.append(asyncio.ensure_future(self.consume(track, mid)))

    async def consume(self, track, mid):
        while True:
            try:
                await track.recv()
            except Exception:
                return
            if track.kind == "video":
                who = self.video_mids.get(mid, (None, None))[0]
                self.video_frames[who] = self.video_frames.get(who, 0) + 1
            else:
                who = self.audio_slots.get(mid)
                self.audio_frames[who] = self.audio_frames.get(who, 0) + 1

    def save(self, what, sdp):
        if self.sdp_dir:
            n = self.messages.get("subscribe_offer", 0)
            with open(f"{self.sdp_dir}/{self.name}-{what}-{n}.sdp", "w") as f:
                f.write(sdp)

    def report(self):
        return {
            "id": self.id,
            "video_frames": {k: v for k, v in self.video_frames.items() if k},
            "audio_frames": {k: v for k, v in self.audio_frames.items() if k},
            "messages": self.messages,
            "first_messages": self.order,
            "errors": self.errors,
        }

    async def close(self):
        for pc in (self.publish, self.subscribe):
            if pc is not None:
                await pc.close()
        if self.ws is not None:
            await self.ws.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("room")
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--sdp-dir")
    args = parser.parse_args()
    peers = [Participant(args.server, args.room, n, args.sdp_dir) for n in args.names]
    tasks = []
    for p in peers:
        tasks.append(asyncio.ensure_future(p.run()))
        await asyncio.sleep(0.3)
    start = time.monotonic()

    def done():
        ids = [p.id for p in peers]
        return all(
            p.id
            and all(
                p.video_frames.get(other, 0) >= args.frames and p.audio_frames.get(other, 0) >= args.frames
                for other in ids
                if other != p.id
            )
            for p in peers
        )

    while time.monotonic() - start < args.seconds and not done():
        failed = [t for t in tasks if t.done()]
        if failed:
            for t in failed:
                log("a participant ended:", t.exception() if not t.cancelled() else "cancelled")
            break
        await asyncio.sleep(0.2)
    result = {
        "all_decoded": done(),
        "seconds": round(time.monotonic() - start, 1),
        "peers": {p.name: p.report() for p in peers},
    }
    print("RESULT " + json.dumps(result), flush=True)
    for p in peers:
        await p.close()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
