"""The ``--web PORT`` page: the reconstructed call played over WebRTC to browser viewers.

A viewer must present this receiver's call code (``codec/call/callcode.py``) with its offer
and when it polls the statistics; anything else is refused in one line here and one line to
the refused side, and the call goes on. With ``--signaling http`` the same server takes the
avfr sender's offer (POST /call).

A viewer gets the picture on show at the stream's frame rate, and the speech held back until
the picture of its media time is on show (:func:`DelayedAudioTrack`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Awaitable, Callable, Protocol

import numpy as np

from codec.call.callcode import reach_warning

WEB_DIR = Path(__file__).resolve().parent / "web"


class WatchedCall(Protocol):
    """What the page needs of the call it shows (``receiver/call.py``'s CallReceiver)."""

    def picture_on_show(self) -> np.ndarray: ...

    async def viewer_speech(self):  # noqa: ANN201 (an aiortc track)
        ...

    def picture_track_time(self) -> float | None: ...

    def live_stats(self) -> dict: ...


class WebPage:
    """The page, the viewers' offers and statistics, and (on http signaling) the sender's offer."""

    def __init__(self, host: str, port: int, code: str, signaling, call: WatchedCall) -> None:  # noqa: ANN001
        self.host, self.port, self.code = host, port, code
        self.signaling = signaling
        self.call = call
        self.viewers: set = set()  # their RTCPeerConnections
        self._runner = None  # aiohttp.web.AppRunner, once started

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/", lambda request: web.FileResponse(WEB_DIR / "index.html"))
        app.router.add_post("/offer", self._viewer_offer)
        app.router.add_post("/call", self._sender_offer)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # Printed with -q too: the code in the address is what lets a viewer in.
        print(f"avfr receive: the call plays at {self.url()} (open that address: its #code is the viewer's key)", file=sys.stderr, flush=True)
        warning = reach_warning(self.host, self.port, "the --web page")
        if warning is not None and not self._takes_calls_by_http():  # on http, the signaling's own line said so
            print(f"avfr receive: {warning}", file=sys.stderr, flush=True)

    def url(self) -> str:
        return f"http://{self.host}:{self.port}/#code={self.code}"

    async def close(self) -> None:
        """Hang up on every viewer and stop serving."""
        for viewer in list(self.viewers):
            await viewer.close()
        if self._runner is not None:
            await self._runner.cleanup()

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

    async def _sender_offer(self, request):  # noqa: ANN001, ANN202
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

    async def _stats(self, request):  # noqa: ANN001, ANN202
        from aiohttp import web

        from codec.call.signaling import refusal

        reason = refusal(request.headers.get("X-Avfr-Code"), self.code)
        if reason is not None:
            return web.Response(status=403, text=reason)  # polled every second: refused without a line each time
        return web.json_response(self.call.live_stats())

    async def _viewer_offer(self, request):  # noqa: ANN001, ANN202
        """A browser viewer's offer: answer with the reconstructed video and the speech."""
        from aiohttp import web
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from codec.call.signaling import refusal

        body = await self._json_body(request)
        if body is None:
            return web.Response(status=400, text="POST /offer takes JSON {sdp, type, code}: open the page avfr receive printed")
        reason = refusal(body.get("code"), self.code)
        if reason is not None:
            return self._refuse(request, "a viewer", reason)
        viewer = RTCPeerConnection()
        self.viewers.add(viewer)
        viewer.addTrack(PictureTrack(self.call.picture_on_show))
        viewer.addTrack(DelayedAudioTrack(self.call.viewer_speech, self.call.picture_track_time))  # held back to the picture
        await viewer.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        await viewer.setLocalDescription(await viewer.createAnswer())
        return web.json_response({"sdp": viewer.localDescription.sdp, "type": viewer.localDescription.type})


def _picture_track_class():  # noqa: ANN202
    from aiortc.mediastreams import VideoStreamTrack

    class _PictureTrack(VideoStreamTrack):
        """The picture on show, at the stream's frame rate, for a browser viewer."""

        def __init__(self, picture: Callable[[], np.ndarray]) -> None:
            super().__init__()
            self.picture = picture

        async def recv(self):  # noqa: ANN202
            import av

            pts, time_base = await self.next_timestamp()
            frame = av.VideoFrame.from_ndarray(self.picture(), format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    return _PictureTrack


def PictureTrack(picture: Callable[[], np.ndarray]):  # noqa: ANN201, N802 (a factory: aiortc is imported lazily)
    """``picture``: what is on show now (called once per frame sent)."""
    return _picture_track_class()(picture)


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
