"""The receiving peer of a live call: avfr over WebRTC in, rendered video and speech out.

The network side is aiortc; the timing is ``receiver/live.py``; the pictures come from the
same :class:`receiver.decoder.Receiver` as offline decoding. Every tick (one frame time) the
play-out loop takes the frames that are due, decodes their motion in order (cheap, and the
compact coding needs every frame it can get), and starts the generator on the newest
decodable one if it is free. The generator runs in one worker thread; while it is busy, the
picture on show is held. On a machine that renders slower than the frame rate (a CPU), the
stream still plays at its own rate with fewer distinct pictures: ``frames rendered`` and
``held`` in the statistics say how many.

Every picture shown, recorded or served is marked as synthesised (``codec/marking.py``: the
invisible mark, and the visible label when on); the recording's metadata says so too.

Outputs: ``--record-to`` (mp4: one picture per stream frame, as shown, and the speech),
``--save-stream`` (the received avfr packets as an .avfr file that ``avfr decode`` renders at
full quality later), ``--web PORT`` (a page that plays the reconstructed call over WebRTC to
viewers that present this receiver's call code, ``codec/call/callcode.py``),
``--stats-json`` and ``--timeline`` (when each frame was shown, for latency).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import numpy as np

from codec.call import wire as wire_mod
from codec.call.callcode import new_call_code, reach_warning
from codec.call.opus_rtp import configure_audio_receiver, speech_shift
from codec.call.messages import CONTROL_LABEL, MOTION_LABEL, SPEECH_ORIGIN, read_call_note, unpack_message
from codec.call.stats import CallStats
from codec.errors import InputError, StreamError
from codec.marking import PictureMarking
from proto import avfr_pb2
from receiver.live import LiveAudio, Playout, PlayoutClock, PlayoutConfig

WEB_DIR = Path(__file__).resolve().parent / "web"


@dataclass
class ReceiveOptions:
    model_path: Path | None = None
    device: str = "auto"
    output_size: int = 256
    record_to: Path | None = None
    save_stream: Path | None = None
    web_port: int | None = None
    web_host: str = "127.0.0.1"
    code: str = field(default_factory=new_call_code)  # what viewers of the page (and, on http, the sender) must present
    playout: PlayoutConfig = field(default_factory=PlayoutConfig)
    stats_json: Path | None = None
    timeline: Path | None = None
    netem: wire_mod.NetemConfig = field(default_factory=wire_mod.NetemConfig)
    stats_every_s: float = 1.0
    connect_timeout_s: float = 60.0
    idle_timeout_s: float = 10.0  # no media for this long after the call started: the call is over
    quiet: bool = False
    label: bool | None = None  # the visible label (codec/marking.py); None: on for a stream from a chosen photo


class Recorder:
    """The call as shown, one picture per stream frame, with the received speech (mp4).

    Pictures are written ``lag_frames`` behind play-out. The receiver learns where the stream
    ends from a message on the reliable channel, which a lossy network can delay by a few
    retransmissions (SCTP's timeout is at least 1 s and doubles with each retry; 5 s covers
    two in a row); the frames it played (held) past the end meanwhile are left out of the
    recording. Memory: ``lag_frames`` pictures (125 at 256 px: 25 MB).
    """

    def __init__(self, path: Path, fps: float, lag_frames: int = 125, metadata: dict[str, str] | None = None) -> None:
        from codec.media import video_io

        self.writer = video_io.VideoWriter(path, fps=fps, audio_sample_rate=16000, metadata=metadata)
        self.samples_per_frame = 16000 / fps
        self.pending_audio: list[np.ndarray] = []
        self.audio_written = 0
        self.lag = lag_frames
        self.queue: deque[tuple[int, np.ndarray]] = deque()

    def add_audio(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self.pending_audio.append(pcm)

    def add_frame(self, index: int, rgb: np.ndarray) -> None:
        self.queue.append((index, rgb))
        while len(self.queue) > self.lag:
            self._write(self.queue.popleft()[1])

    def _write(self, rgb: np.ndarray) -> None:
        self.writer.write(rgb)
        self._flush_audio(int(round(self.writer.frames * self.samples_per_frame)))

    def _flush_audio(self, until: int | None) -> None:
        if not self.pending_audio:
            return
        pcm = np.concatenate(self.pending_audio)
        n = len(pcm) if until is None else max(0, min(len(pcm), until - self.audio_written))
        if n:
            self.writer.write_audio(pcm[:n])
            self.audio_written += n
        self.pending_audio = [pcm[n:]] if n < len(pcm) else []

    def close(self, frame_count: int | None = None) -> int:
        """``frame_count``: the stream's length, when known; nothing past it is recorded."""
        for index, rgb in self.queue:
            if frame_count is None or index < frame_count:
                self._write(rgb)
        self.queue.clear()
        self._flush_audio(None if frame_count is None else int(round(frame_count * self.samples_per_frame)))
        frames = self.writer.frames
        self.writer.close()
        return frames


class StreamSaver:
    """The received packets as an .avfr file, in stream order.

    Motion frames travel unordered and some arrive late, so packets are kept by frame index
    and written once play-out is ``lag_frames`` past them: a late frame still makes it into
    the file (it was received, only too late to show). Keyframes go before the motion frame
    of their index. Memory is bounded by the lag.
    """

    def __init__(self, path: Path, header_packet: avfr_pb2.Packet, lag_frames: int = 25) -> None:
        from codec.bitstream.container import AvfrWriter

        self.writer = AvfrWriter(path, overwrite=True, keep_partial=True)
        self.writer.write(header_packet)
        self.lag = lag_frames
        self.pending: dict[tuple[int, int], avfr_pb2.Packet] = {}
        self.written_below = 0  # every frame index below this has been written

    def add(self, packet: avfr_pb2.Packet) -> None:
        kind = packet.WhichOneof("body")
        index = packet.keyframe.frame_index if kind == "keyframe" else packet.motion.frame_index
        key = (index, 0 if kind == "keyframe" else 1)
        if index >= self.written_below and key not in self.pending:
            self.pending[key] = packet

    def advance(self, played_index: int) -> None:
        self._write_below(played_index - self.lag)

    def _write_below(self, limit: int | None) -> None:
        for key in sorted(k for k in self.pending if limit is None or k[0] < limit):
            self.writer.write(self.pending.pop(key))
        if limit is not None:
            self.written_below = max(self.written_below, limit)

    def close(self, end_of_stream: avfr_pb2.Packet | None) -> None:
        self._write_below(None)
        if end_of_stream is not None:
            self.writer.write(end_of_stream)
        self.writer.close()


class CallReceiver:
    def __init__(self, options: ReceiveOptions, signaling) -> None:  # noqa: ANN001
        self.options = options
        self.signaling = signaling
        self.wire = wire_mod.install(options.netem)
        self.speech = configure_audio_receiver(options.playout.speech_reorder_wait_s)
        self.speech_origin: int | None = None  # the RTP timestamp of the sender's first speech packet
        self.stats = CallStats()
        self.clock = PlayoutClock()
        self.audio = LiveAudio()
        self.header: avfr_pb2.StreamHeader | None = None
        self.receiver = None  # receiver.decoder.Receiver, once the header is in
        self.playout: Playout | None = None
        self.expected_frames: int | None = None
        self.picture: np.ndarray | None = None  # what is on show (output size, marked)
        self.marking = PictureMarking()  # the stream's, once its header is in
        self.shown_at: dict[int, float] = {}  # frame index -> wall time its own picture went on show
        self.speech_arrivals: list[tuple[float, float]] = []  # (media time decoded up to, wall time): the clock's input
        self.frame_states: list[str] = []  # per frame played: d(ecoded), l(ost or late), u(ndecodable: after a loss, or no keyframe yet)
        self.keyframes_arrived: dict[int, float] = {}  # keyframe frame index -> wall time it arrived
        self.played_wall: list[float] = []  # per frame played: when it went out
        self.frames_out = 0
        self.recorder: Recorder | None = None
        self.saved = None
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="avfr-render")
        self.render_job: asyncio.Future | None = None
        self.remote_audio = None
        self.remote_audio_arrived = asyncio.Event()  # a viewer may connect before the call's speech does
        self.relay = None
        self.viewers: set = set()
        self.last_media = time.monotonic()
        self.finished = asyncio.Event()
        self.errors: list[str] = []
        self._ready: asyncio.Future | None = None
        self._preloaded = None
        self._preloaded_inputs = None
        self._preloading = self.worker.submit(self._preload_model)  # before the call: loading takes seconds, frames would pile up

    # ------------------------------------------------------------------ network

    async def run(self) -> dict:
        from aiortc import RTCPeerConnection
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        pc = RTCPeerConnection()
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", lambda: self._on_state(pc))
        web = await self._start_web() if self.options.web_port is not None else None
        try:
            await self.signaling.connect()
            offer = await asyncio.wait_for(self.signaling.receive(), timeout=self.options.connect_timeout_s)
            if offer is None or getattr(offer, "type", None) != "offer":
                raise InputError("no call offer arrived: start `avfr send` with the same --signaling")
            await asyncio.wrap_future(self._preloading)  # answered once ready: the media starts with the answer
            await pc.setRemoteDescription(offer)
            await pc.setLocalDescription(await pc.createAnswer())
            await self.signaling.send(pc.localDescription)
            self.wire.impair(True)
            self.last_media = time.monotonic()  # the idle clock starts with the call, not with the wait for it
            await self._play()
        except asyncio.TimeoutError:
            raise InputError(f"no call arrived within {self.options.connect_timeout_s:.0f} s: start `avfr send` with the same --signaling") from None
        finally:
            self.wire.impair(False)
            await self._finish()
            for viewer in list(self.viewers):
                await viewer.close()
            await pc.close()
            await self.signaling.close()
            if web is not None:
                await web.cleanup()
            self.worker.shutdown(wait=True)
        return self.summary()

    def _on_state(self, pc) -> None:  # noqa: ANN001
        if pc.connectionState in ("failed", "closed"):
            self.finished.set()

    def _on_datachannel(self, channel) -> None:  # noqa: ANN001
        if channel.label == CONTROL_LABEL:
            channel.on("message", self._on_control)
        elif channel.label == MOTION_LABEL:
            channel.on("message", self._on_motion)

    def _on_track(self, track) -> None:  # noqa: ANN001
        if track.kind == "audio":
            self.remote_audio = track
            self.remote_audio_arrived.set()
            asyncio.ensure_future(self._consume_audio(self.relay.subscribe(track)))

    async def _consume_audio(self, track) -> None:  # noqa: ANN001
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.time()
            self.last_media = time.monotonic()
            pts = None if frame.pts is None else frame.pts + self.speech_shift()
            pcm = self.audio.add_frame(frame, pts)
            if pts is not None:
                media_end = (pts + frame.samples) / frame.sample_rate
                self.clock.observe(media_end, now, "audio")
                self.speech_arrivals.append((media_end, now))
            if self.recorder is not None:
                self.recorder.add_audio(pcm)

    def speech_shift(self) -> int:
        """Samples the speech track's timestamps lag its media time by: the speech packets lost
        before the first one arrived (known once the sender's note is in)."""
        return speech_shift(self.speech.first_rtp_timestamp, self.speech_origin)

    def _on_control(self, message: bytes | str) -> None:
        try:
            if isinstance(message, str):
                self.speech_origin = read_call_note(message).get(SPEECH_ORIGIN, self.speech_origin)
                return
            packets = list(unpack_message(message))
        except StreamError as err:
            self.errors.append(str(err))
            return
        for packet in packets:
            self.stats.bytes.keyframes += packet.ByteSize()
            kind = packet.WhichOneof("body")
            if kind == "header":
                self._on_header(packet)
            elif kind == "keyframe" and self.playout is not None:
                self.keyframes_arrived.setdefault(packet.keyframe.frame_index, time.time())
                self.playout.on_keyframe(packet.keyframe)
                self.stats.keyframes += 1
                if self.saved is not None:
                    self.saved.add(packet)
            elif kind == "end_of_stream":
                self.expected_frames = packet.end_of_stream.frame_count
                self._eos = packet

    def _on_motion(self, message: bytes) -> None:
        self.last_media = time.monotonic()
        try:
            packets = list(unpack_message(message))
        except StreamError as err:
            self.errors.append(str(err))
            return
        now = time.time()
        for packet in packets:
            if not packet.HasField("motion") or self.playout is None:
                continue
            self.stats.bytes.motion += packet.ByteSize()
            self.stats.bytes.motion_messages += 1
            self.clock.observe(packet.motion.frame_index / self.playout.fps, now, "motion")
            self.playout.on_motion(packet.motion)
            if self.saved is not None and packet.motion.frame_index < self.playout.next_index + self.options.playout.capacity_frames:
                self.saved.add(packet)

    def _on_header(self, packet: avfr_pb2.Packet) -> None:
        if self.header is not None:
            return
        self.header = packet.header
        fps = self.header.fps_num / self.header.fps_den
        self.playout = Playout(fps, self.options.playout)
        self._eos = None
        self.marking = PictureMarking.for_stream(self.header, self.options.label)
        if self.options.record_to is not None:
            self.recorder = Recorder(self.options.record_to, fps, metadata=self.marking.metadata())
        if self.options.save_stream is not None:
            self.saved = StreamSaver(self.options.save_stream, packet)
        self._ready = asyncio.get_running_loop().run_in_executor(self.worker, self._load_model)

    def _preload_model(self) -> None:
        from codec.errors import ModelError
        from codec.zoo import load_for_encoding

        from codec.model_input import ModelInputMaker

        # Everything slow to start, before the call, not on its first frames (measured: nothing
        # was shown for the first ~3 s). The first log-mel imports librosa and builds its filter
        # bank (1.5 s); a MediaPipe session takes ~0.6 s (made for the usual stream size).
        self.audio.window(0, 25.0)
        self._preloaded_inputs = ModelInputMaker(256, static_image_mode=True)
        try:
            self._preloaded = load_for_encoding(self.options.model_path)
        except ModelError:
            self._preloaded = None  # _load_model says what is wrong once the stream names its model
            return
        warm_up_networks(self._preloaded)

    def _load_model(self) -> None:
        """Runs in the worker, after the preload: the preloaded model if it is the stream's."""
        from codec.zoo import resolve_model_for_stream
        from receiver.decoder import Receiver, pick_device

        model = self._preloaded
        if model is None or (self.header.model_sha256 and model.weights_sha256 != self.header.model_sha256):
            model = resolve_model_for_stream(self.header.model_id, self.header.model_sha256, self.options.model_path)
        self.receiver = Receiver(model, self.header, pick_device(self.options.device), self._preloaded_inputs)

    # ------------------------------------------------------------------ play-out

    async def _play(self) -> None:
        """The play-out loop: one tick per frame time until the stream's last frame is due."""
        started = time.monotonic()
        while self._ready is None:
            if self.finished.is_set() or time.monotonic() - started > self.options.connect_timeout_s:
                raise InputError("the call connected but no avfr stream header arrived: is the peer an avfr sender?")
            await asyncio.sleep(0.01)
        await self._ready
        fps = self.playout.fps
        last_stats = time.monotonic()
        while not self.finished.is_set():
            await asyncio.sleep(1.0 / fps / 2)
            stream_time = self.clock.stream_time(time.time())
            if stream_time is not None:
                await self._tick(stream_time)
            if self.expected_frames is not None and self.playout.next_index >= self.expected_frames:
                break
            if time.monotonic() - self.last_media > self.options.idle_timeout_s:
                self.errors.append(f"no media for {self.options.idle_timeout_s:.0f} s: the sender went away before the end of its stream")
                break
            if not self.options.quiet and time.monotonic() - last_stats >= self.options.stats_every_s:
                last_stats = time.monotonic()
                self._update_wire_bytes()
                lat = self.latency_ms()
                print(f"receive: frame {self.playout.next_index} | {self.stats.line()} | latency here: "
                      f"play-out {lat['playout']:.0f} + render {lat['render']:.0f} ms", file=sys.stderr)  # fmt: skip
        if self.render_job is not None:
            await self.render_job

    async def _tick(self, stream_time: float) -> None:
        """Frames due now: decode each in order, render the newest decodable one if the
        generator is free; every other due frame is held (shown as the previous picture)."""
        due = self.playout.due(stream_time)
        if self.expected_frames is not None:  # nothing past the stream's last frame
            due = [(i, m) for i, m in due if i < self.expected_frames]
        newest: tuple[int, np.ndarray] | None = None
        for index, motion in due:
            keyframe = self.playout.keyframe_for(index)
            if keyframe is not None:
                await asyncio.get_running_loop().run_in_executor(self.worker, self._apply_keyframe, keyframe)
            self.stats.frames_due += 1
            keypoints = self._decode(index, motion)
            if keypoints is not None:
                newest = (index, keypoints)
                self.stats.frames_decodable += 1
            self.frame_states.append("l" if motion is None else "u" if keypoints is None else "d")
            self._show(index)
        started = newest is not None and (self.render_job is None or self.render_job.done())
        if started:
            self.render_job = asyncio.get_running_loop().run_in_executor(self.worker, self._render, *newest)
        self.stats.frames_held += len(due) - int(started)
        if due and self.saved is not None:
            self.saved.advance(due[-1][0])

    def _decode(self, index: int, motion: avfr_pb2.MotionFrame | None) -> np.ndarray | None:
        if motion is None:
            self.stats.frames_lost += 1
            return None
        if self.receiver is None or self.receiver.source_state is None:
            return None
        try:
            return self.receiver.motion.decode(motion)
        except StreamError as err:
            self.errors.append(str(err))
            return None

    def _apply_keyframe(self, keyframe: avfr_pb2.Keyframe) -> None:
        from codec.media.keyframe import decode_keyframe
        from receiver.decoder import resize_frame

        self.receiver.on_keyframe(keyframe)
        if self.picture is None:  # nothing rendered yet: show the keyframe itself
            self.picture = self.marking.apply(resize_frame(decode_keyframe(keyframe.data, keyframe.codec), self.options.output_size))

    def _render(self, index: int, keypoints: np.ndarray) -> None:
        from receiver.decoder import resize_frame

        started = time.perf_counter()
        mel = self.audio.window(index, self.playout.fps)
        frame = self.receiver.render_keypoints(keypoints[None], mel[None])[0]
        self.picture = self.marking.apply(resize_frame(frame, self.options.output_size))
        self.shown_at[index] = time.time()
        self.stats.frames_rendered += 1
        self.stats.render_ms.append(1000 * (time.perf_counter() - started))

    def _show(self, index: int) -> None:
        """Frame ``index`` is due: the recording gets the picture on show (black until the
        first keyframe is in, which a lossy network can delay by a retransmission or two)."""
        self.frames_out += 1
        self.played_wall.append(time.time())
        if self.recorder is not None:
            self.recorder.add_frame(index, self.picture if self.picture is not None else self.blank())

    def blank(self) -> np.ndarray:
        return np.zeros((self.options.output_size, self.options.output_size, 3), np.uint8)

    async def _finish(self) -> None:
        if self.saved is not None:
            self.saved.close(getattr(self, "_eos", None))
        if self.recorder is not None:
            self.recorded_frames = self.recorder.close(self.expected_frames)

    # ------------------------------------------------------------------ web page

    async def _start_web(self):  # noqa: ANN202 (aiohttp.web.AppRunner)
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/", lambda request: web.FileResponse(WEB_DIR / "index.html"))
        app.router.add_post("/offer", self._web_offer)
        app.router.add_post("/call", self._web_call)
        app.router.add_get("/stats", self._web_stats)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, self.options.web_host, self.options.web_port)
        await site.start()
        # Printed with -q too: the code in the address is what lets a viewer in.
        print(f"avfr receive: the call plays at {self.page_url()} (open that address: its #code is the viewer's key)", file=sys.stderr, flush=True)
        warning = reach_warning(self.options.web_host, self.options.web_port, "the --web page")
        if warning is not None and not self._takes_calls_by_http():  # on http, the signaling's own line said so
            print(f"avfr receive: {warning}", file=sys.stderr, flush=True)
        return runner

    def page_url(self) -> str:
        return f"http://{self.options.web_host}:{self.options.web_port}/#code={self.options.code}"

    def _takes_calls_by_http(self) -> bool:
        from codec.call.signaling import HttpAnswerSignaling

        return isinstance(self.signaling, HttpAnswerSignaling)

    def _refuse(self, request, what: str, reason: str, status: int = 403):  # noqa: ANN001, ANN202
        """One line here, one line to the refused side; nothing else changes."""
        from aiohttp import web

        print(f"avfr receive: refused {what} from {request.remote}: {reason} (the call goes on)", file=sys.stderr, flush=True)
        return web.Response(status=status, text=f"{reason}: use the address or code that avfr receive printed")

    async def _json_body(self, request) -> dict | None:  # noqa: ANN001
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) and isinstance(body.get("sdp"), str) and isinstance(body.get("type"), str) else None

    async def _web_call(self, request):  # noqa: ANN001, ANN202
        """``--signaling http``: an avfr sender's offer."""
        from aiohttp import web
        from aiortc import RTCSessionDescription

        from codec.call.signaling import TAKEN

        if not self._takes_calls_by_http():
            return web.Response(status=409, text="this receiver takes calls by another --signaling")
        body = await self._json_body(request)
        if body is None:
            return web.Response(status=400, text="POST /call takes JSON {sdp, type, code}: is this an avfr sender?")
        reason = self.signaling.refusal_for(body.get("code"))
        if reason is not None:
            return self._refuse(request, "a call", reason, status=409 if reason == TAKEN else 403)
        answer = await self.signaling.offer_from_http(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    async def _web_stats(self, request):  # noqa: ANN001, ANN202
        from aiohttp import web

        from codec.call.signaling import refusal

        reason = refusal(request.headers.get("X-Avfr-Code"), self.options.code)
        if reason is not None:
            return web.Response(status=403, text=reason)  # polled every second: refused without a line each time
        return web.json_response(self.live_stats())

    async def _web_offer(self, request):  # noqa: ANN001, ANN202
        """A browser viewer's offer: answer with the reconstructed video and the speech."""
        from aiohttp import web
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from codec.call.signaling import refusal

        body = await self._json_body(request)
        if body is None:
            return web.Response(status=400, text="POST /offer takes JSON {sdp, type, code}: open the page avfr receive printed")
        reason = refusal(body.get("code"), self.options.code)
        if reason is not None:
            return self._refuse(request, "a viewer", reason)
        viewer = RTCPeerConnection()
        self.viewers.add(viewer)
        viewer.addTrack(PictureTrack(self))
        viewer.addTrack(DelayedAudioTrack(self.viewer_speech, self.picture_track_time))  # held back to the picture
        await viewer.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        await viewer.setLocalDescription(await viewer.createAnswer())
        return web.json_response({"sdp": viewer.localDescription.sdp, "type": viewer.localDescription.type})

    # ------------------------------------------------------------------ reports

    def _update_wire_bytes(self) -> None:
        self.stats.bytes.transport = self.wire.received.wire_bytes
        self.stats.bytes.audio = self.wire.received.rtp
        if self.playout is not None:
            self.stats.frames_late = self.playout.jitter.stats.late

    async def viewer_speech(self):  # noqa: ANN201 (an aiortc track)
        """The call's speech for one more listener, once it has arrived."""
        await self.remote_audio_arrived.wait()
        return self.relay.subscribe(self.remote_audio)

    def picture_media_time(self) -> float | None:
        """The media time of the picture going on show now: frames are due ``delay_s`` after
        their media time, and their picture appears a render later."""
        stream_time = self.clock.stream_time(time.time())
        if stream_time is None:
            return None
        return stream_time - sum(self.latency_ms().values()) / 1000.0

    def picture_track_time(self) -> float | None:
        """:meth:`picture_media_time` on the speech track's own timestamps (see :meth:`speech_shift`)."""
        shown = self.picture_media_time()
        return None if shown is None else shown - self.speech_shift() / 48000

    def latency_ms(self) -> dict[str, float]:
        """The receiver's part of glass-to-glass latency: a frame goes on show its play-out delay
        after its media time (against the speech's clock), plus a render. The sender's part
        (capture to send) needs both clocks: benchmarks/call.py measures the whole."""
        render = self.stats.render_ms[-25:]
        render_ms = sorted(render)[len(render) // 2] if render else 0.0
        return {"playout": 1000 * self.options.playout.delay_s, "render": render_ms}

    def live_stats(self) -> dict:
        self._update_wire_bytes()
        out = self.stats.snapshot()
        out["latency_ms"] = self.latency_ms()
        out["frame"] = self.playout.next_index if self.playout is not None else 0
        out["jitter"] = vars(self.playout.jitter.stats) if self.playout is not None else {}
        out["speech"] = asdict(self.speech)
        return out

    def summary(self) -> dict:
        self._update_wire_bytes()
        fps = self.playout.fps if self.playout is not None else 25.0
        # Frames play from 0 without gaps, so those past the end are the excess over its length.
        frames = self.frames_out if self.expected_frames is None else min(self.frames_out, self.expected_frames)
        out = {
            "frames_out": frames,
            "frames_past_end": self.frames_out - frames,  # held on show before the end-of-stream message arrived
            "expected_frames": self.expected_frames,
            "recorded_frames": getattr(self, "recorded_frames", None),
            "stats": self.stats.snapshot(media_seconds=frames / fps if frames else None),
            "jitter": vars(self.playout.jitter.stats) if self.playout is not None else {},
            "max_held_frames": self.playout.max_held if self.playout is not None else 0,
            "speech": asdict(self.speech),
            "playout_delay_s": self.options.playout.delay_s,
            "wire": self.wire.summary(),
            "errors": self.errors,
        }
        if self.options.timeline is not None:
            timeline = {"fps": fps, "shown_wall": {str(k): v for k, v in self.shown_at.items()}, "speech_arrivals": self.speech_arrivals,
                        "frame_states": "".join(self.frame_states), "played_wall": self.played_wall, "keyframes_arrived": {str(k): v for k, v in self.keyframes_arrived.items()}}  # fmt: skip
            Path(self.options.timeline).write_text(json.dumps(timeline) + "\n")
        if self.options.stats_json is not None:
            Path(self.options.stats_json).write_text(json.dumps(out, indent=2) + "\n")
        return out


def warm_up_networks(model) -> None:  # noqa: ANN001 (codec.model.AVFRModel)
    """One reconstruction on zeros: the first real frame should not pay for set-up."""
    import torch

    from codec.audio_features import silence_window

    with torch.no_grad():
        size = model.config.image_size
        state = model.encode_source(torch.zeros(1, 5, size, size))
        model.reconstruct(state, state.keypoints, torch.from_numpy(silence_window()).float()[None, None])


def _picture_track_class():  # noqa: ANN202
    from aiortc.mediastreams import VideoStreamTrack

    class _PictureTrack(VideoStreamTrack):
        """The picture on show, at the stream's frame rate, for a browser viewer."""

        def __init__(self, call: CallReceiver) -> None:
            super().__init__()
            self.call = call

        async def recv(self):  # noqa: ANN202
            import av

            pts, time_base = await self.next_timestamp()
            picture = self.call.picture if self.call.picture is not None else self.call.blank()
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    return _PictureTrack


def PictureTrack(call: CallReceiver):  # noqa: ANN201, N802 (a factory: aiortc is imported lazily)
    return _picture_track_class()(call)


def _delayed_audio_track_class():  # noqa: ANN202
    from aiortc.mediastreams import MediaStreamTrack

    class _DelayedAudioTrack(MediaStreamTrack):
        """Received speech for a browser viewer, each frame released once the picture of its media
        time is on show. Relayed as it arrives, the speech would run a play-out delay and a
        render (~0.3 s on CPU) ahead of the face; audio that early is plainly out of sync."""

        kind = "audio"

        def __init__(self, source: Callable[[], Awaitable], picture_media_time: Callable[[], float | None], poll_s: float = 0.005) -> None:
            super().__init__()
            self.open_source, self.picture_media_time, self.poll_s = source, picture_media_time, poll_s
            self.source = None

        async def recv(self):  # noqa: ANN202
            if self.source is None:
                self.source = await self.open_source()
            frame = await self.source.recv()
            start = None if frame.pts is None else frame.pts / frame.sample_rate  # as the play-out clock reads it
            while start is not None:
                shown = self.picture_media_time()
                if shown is not None and shown >= start:
                    break
                await asyncio.sleep(self.poll_s)
            return frame

    return _DelayedAudioTrack


def DelayedAudioTrack(source: Callable[[], Awaitable], picture_media_time: Callable[[], float | None]):  # noqa: ANN201, N802
    """``source``: a coroutine function giving the speech track (awaited at the first frame)."""
    return _delayed_audio_track_class()(source, picture_media_time)


async def receive_call(options: ReceiveOptions, signaling) -> dict:  # noqa: ANN001
    """Answer one call and play it to its end; returns its summary."""
    return await CallReceiver(options, signaling).run()
