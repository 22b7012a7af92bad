"""How two avfr peers exchange their SDP offer and answer.

The sender always offers and the receiver answers. Three ways come from aiortc's own examples
(``aiortc.contrib.signaling``): ``tcp-socket`` (the offerer listens, the answerer connects),
``unix-socket`` and ``copy-and-paste`` (a human carries the text). ``http`` is the usual web
way: the receiver serves ``POST /call`` (JSON ``{"sdp", "type"}`` in, the answer out) and the
sender posts its offer there. Every kind offers the same two calls, ``send`` and ``receive``,
so the call code does not care which one is in use.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Protocol

from codec.errors import InputError

if TYPE_CHECKING:  # aiortc is imported when a call starts, not for `avfr --help`
    from aiortc import RTCSessionDescription

SIGNALING_KINDS = ("tcp-socket", "http", "unix-socket", "copy-and-paste")
DEFAULT_PORT = 1234


class Signaling(Protocol):
    async def connect(self) -> None: ...
    async def send(self, description: RTCSessionDescription) -> None: ...
    async def receive(self) -> object: ...
    async def close(self) -> None: ...


def add_signaling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--signaling", choices=SIGNALING_KINDS, default="tcp-socket", help="how the peers exchange offer and answer")
    parser.add_argument("--signaling-host", default="127.0.0.1", help="tcp-socket / http: host (default 127.0.0.1)")
    parser.add_argument("--signaling-port", type=int, default=DEFAULT_PORT, help=f"tcp-socket / http: port (default {DEFAULT_PORT})")
    parser.add_argument("--signaling-path", default="avfr-signaling.sock", help="unix-socket: the socket's path")


class HttpOfferSignaling:
    """The sender's side of ``http``: POST the offer, the response is the answer."""

    def __init__(self, url: str, attempts: int = 50) -> None:
        self.url = url
        self.attempts = attempts
        self._answer: RTCSessionDescription | None = None

    async def connect(self) -> None:
        pass

    async def send(self, description: RTCSessionDescription) -> None:
        import aiohttp

        body = {"sdp": description.sdp, "type": description.type}
        async with aiohttp.ClientSession() as session:
            for attempt in range(self.attempts):  # the receiver may still be starting
                try:
                    async with session.post(self.url, json=body) as response:
                        if response.status != 200:
                            raise InputError(f"{self.url} refused the offer (HTTP {response.status}): {await response.text()}")
                        data = await response.json()
                        from aiortc import RTCSessionDescription

                        self._answer = RTCSessionDescription(sdp=data["sdp"], type=data["type"])
                        return
                except aiohttp.ClientConnectionError:
                    if attempt == self.attempts - 1:
                        raise InputError(f"no avfr receiver answers at {self.url}: start `avfr receive --signaling http` first") from None
                    await asyncio.sleep(0.2)

    async def receive(self) -> object:
        return self._answer

    async def close(self) -> None:
        pass


class HttpAnswerSignaling:
    """The receiver's side of ``http``: offers come from the web server's ``POST /call``."""

    def __init__(self) -> None:
        self._offers: asyncio.Queue[tuple[RTCSessionDescription, asyncio.Future]] = asyncio.Queue()
        self._pending: asyncio.Future | None = None

    async def offer_from_http(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Called by the HTTP handler: hand the offer to the call, wait for its answer."""
        answered: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._offers.put((offer, answered))
        return await answered

    async def connect(self) -> None:
        pass

    async def receive(self) -> object:
        offer, self._pending = await self._offers.get()
        return offer

    async def send(self, description: RTCSessionDescription) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(description)

    async def close(self) -> None:
        pass


class RetryingTcpSignaling:
    """aiortc's tcp-socket signaling, but the answerer waits for the offerer to listen."""

    def __init__(self, host: str, port: int, attempts: int = 600) -> None:  # 60 s: a receiver may be started first
        from aiortc.contrib.signaling import TcpSocketSignaling

        self._inner = TcpSocketSignaling(host, port)
        self.where, self.attempts = f"{host}:{port}", attempts

    async def connect(self) -> None:
        pass

    async def send(self, description: RTCSessionDescription) -> None:
        await self._inner.send(description)

    async def receive(self) -> object:
        for attempt in range(self.attempts):
            try:
                return await self._inner.receive()
            except (ConnectionRefusedError, OSError):
                if attempt == self.attempts - 1:
                    raise InputError(f"no avfr sender is listening on {self.where}: start `avfr send` first") from None
                await asyncio.sleep(0.1)
        return None

    async def close(self) -> None:
        await self._inner.close()


def create_signaling(args: argparse.Namespace, role: str) -> Signaling:
    """``role``: "offer" (the sender) or "answer" (the receiver)."""
    from aiortc.contrib.signaling import CopyAndPasteSignaling, UnixSocketSignaling

    if args.signaling == "tcp-socket":
        return RetryingTcpSignaling(args.signaling_host, args.signaling_port)
    if args.signaling == "unix-socket":
        return UnixSocketSignaling(args.signaling_path)
    if args.signaling == "http":
        if role == "offer":
            return HttpOfferSignaling(f"http://{args.signaling_host}:{args.signaling_port}/call")
        return HttpAnswerSignaling()
    return CopyAndPasteSignaling()
