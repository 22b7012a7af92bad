"""How two avfr peers exchange their SDP offer and answer, and only the intended two.

The sender always offers and the receiver answers. Four ways, as in aiortc's examples
(``aiortc.contrib.signaling``, same JSON lines): ``tcp-socket`` and ``unix-socket`` (the offerer
listens, the answerer connects), ``copy-and-paste`` (a human carries the text), and ``http``,
the usual web way: the receiver serves ``POST /call`` (JSON ``{"sdp", "type", "code"}`` in, the
answer out) and the sender posts its offer there. Every kind offers the same calls (``connect``,
``send``, ``receive``, ``close``), so the call code does not care which one is in use.

Whoever listens makes the call code (``codec.call.callcode``) and prints it; the other side
gives it with ``--code``. On the sockets the connecting side's first line is ``{"type":
"avfr-hello", "code": ...}``; the listener answers ``avfr-welcome`` or ``avfr-refused`` with a
reason and goes on listening, so a wrong guess costs the caller its attempt and the call
nothing. Once the intended peer is in, everyone else is refused: a call has two ends.
copy-and-paste needs no code: its channel, the person carrying the text, is the check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Awaitable, Callable, Protocol

from codec.call.callcode import codes_match, new_call_code, parse_call_code, reach_warning
from codec.errors import InputError

if TYPE_CHECKING:  # aiortc is imported when a call starts, not for `avfr --help`
    from aiortc import RTCSessionDescription

SIGNALING_KINDS = ("tcp-socket", "http", "unix-socket", "copy-and-paste")
DEFAULT_KIND = "tcp-socket"
DEFAULT_PORT = 1234
DEFAULT_PATH = "avfr-signaling.sock"
COMMANDS = {"offer": "avfr send", "answer": "avfr receive"}
HELLO_TIMEOUT_S = 5.0  # a connection that says nothing for this long is dropped
NO_CODE, WRONG_CODE, TAKEN = "no call code", "wrong call code", "a call is already under way"

Say = Callable[[str], None]


class Signaling(Protocol):
    async def connect(self) -> None: ...
    async def send(self, description: RTCSessionDescription) -> None: ...
    async def receive(self) -> object: ...
    async def close(self) -> None: ...


def add_signaling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--signaling", choices=SIGNALING_KINDS, default=DEFAULT_KIND, help="how the peers exchange offer and answer")
    parser.add_argument("--signaling-host", default="127.0.0.1", help="tcp-socket / http: host (default 127.0.0.1)")
    parser.add_argument("--signaling-port", type=int, default=DEFAULT_PORT, help=f"tcp-socket / http: port (default {DEFAULT_PORT})")
    parser.add_argument("--signaling-path", default=DEFAULT_PATH, help="unix-socket: the socket's path")
    parser.add_argument("--code", default=None, metavar="CODE",
                        help="the call code the listening side printed (avfr send on tcp-socket and unix-socket, avfr receive on http)")  # fmt: skip


def listens(kind: str, role: str) -> bool:
    """Whether the ``role`` side ("offer": the sender, "answer": the receiver) listens for the other."""
    return (kind in ("tcp-socket", "unix-socket") and role == "offer") or (kind == "http" and role == "answer")


def other_role(role: str) -> str:
    return "answer" if role == "offer" else "offer"


def code_to_present(args: argparse.Namespace, role: str) -> str | None:
    """The listener's code, as the connecting side was given it (None where none is needed);
    InputError when it is missing, malformed or given to the side that makes it."""
    if args.signaling == "copy-and-paste":
        if args.code is not None:
            raise InputError("--signaling copy-and-paste needs no --code: the text you carry is the check; leave it out")
        return None
    if listens(args.signaling, role):
        if args.code is not None:
            raise InputError(f"with --signaling {args.signaling}, {COMMANDS[role]} makes the call code and prints it: "
                             f"leave out --code here and give the printed code to {COMMANDS[other_role(role)]}")  # fmt: skip
        return None
    if args.code is None:
        raise InputError(f"--code is missing: give the call code that {COMMANDS[other_role(role)]} printed, e.g. --code 7f3k-q9zm-2hxa-p4tr")
    return parse_call_code(args.code)


def code_for(args: argparse.Namespace, role: str, own: str | None = None) -> str | None:
    """The code this side's signaling uses: its own when it listens (``own``, or a fresh one),
    else the one it was given; None on copy-and-paste."""
    given = code_to_present(args, role)
    return (own or new_call_code()) if listens(args.signaling, role) else given


def join_command(args: argparse.Namespace, role: str, code: str) -> str:
    """What the other side types to join this listener (printed with the code)."""
    parts = [COMMANDS[other_role(role)]]
    if args.signaling != DEFAULT_KIND:
        parts += ["--signaling", args.signaling]
    if args.signaling == "unix-socket" and args.signaling_path != DEFAULT_PATH:
        parts += ["--signaling-path", args.signaling_path]
    if args.signaling != "unix-socket" and args.signaling_port != DEFAULT_PORT:
        parts += ["--signaling-port", str(args.signaling_port)]
    return " ".join(parts + ["--code", code])


def refusal(presented: object, code: str, taken: bool = False) -> str | None:
    """Why a peer presenting ``presented`` is refused, or None to let it in."""
    if presented is None or presented == "":
        return NO_CODE
    if not codes_match(presented, code):
        return WRONG_CODE
    return TAKEN if taken else None


def _encode(message: dict) -> bytes:
    return json.dumps(message, sort_keys=True).encode("utf-8") + b"\n"


class StreamSignaling:
    """``tcp-socket`` and ``unix-socket``: JSON lines on one stream, the first one the code.

    The listener (``code`` is its own) keeps accepting until it closes, refusing every
    connection but the first that presents the code; the connecting side (``code`` is the one
    it was given) retries while the listener is not up yet.
    """

    def __init__(self, listen: bool, code: str, open_stream: Callable[[], Awaitable], serve: Callable[..., Awaitable],
                 where: str, say: Say, announce: Callable[[], None] = lambda: None, cleanup: Callable[[], None] | None = None,
                 attempts: int = 600) -> None:  # fmt: skip
        self.listening, self.code, self.where, self.say, self._announce = listen, code, where, say, announce
        self.attempts = attempts  # x 0.1 s: the receiver may be started before the sender listens
        self._open_stream, self._serve, self._cleanup = open_stream, serve, cleanup
        self._server: asyncio.AbstractServer | None = None
        self._peer: asyncio.Future | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """The listener starts listening here, before the offer is made."""
        if self.listening and self._server is None:
            self._peer = asyncio.get_running_loop().create_future()
            self._server = await self._serve(self._greet)
            self._announce()

    async def _greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        who = _peer_name(writer)
        try:
            hello = json.loads(await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S))
        except (asyncio.TimeoutError, ValueError, UnicodeDecodeError, ConnectionError, asyncio.LimitOverrunError):
            hello = None
        presented = hello.get("code") if isinstance(hello, dict) and hello.get("type") == "avfr-hello" else None
        reason = refusal(presented, self.code, taken=self._peer is None or self._peer.done())
        if reason is not None:
            self.say(f"refused a peer from {who}: {reason} (the call goes on)")
            await _refuse(writer, reason)
            return
        writer.write(_encode({"type": "avfr-welcome"}))
        self._peer.set_result((reader, writer))

    async def _stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._writer is None:
            if self.listening:
                await self.connect()
                self._reader, self._writer = await self._peer
            else:
                self._reader, self._writer = await self._join()
        return self._reader, self._writer

    async def _join(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        for attempt in range(self.attempts):
            try:
                reader, writer = await self._open_stream()
                break
            except OSError:  # refused, or the socket file is not there yet
                if attempt == self.attempts - 1:
                    raise InputError(f"no avfr sender is listening on {self.where}: start `avfr send` first") from None
                await asyncio.sleep(0.1)
        writer.write(_encode({"type": "avfr-hello", "code": self.code}))
        try:
            await writer.drain()
            reply = json.loads(await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S + 5))
        except (asyncio.TimeoutError, ValueError, ConnectionError):
            reply = None
        if not isinstance(reply, dict) or reply.get("type") != "avfr-welcome":
            reason = reply.get("reason") if isinstance(reply, dict) else "it did not answer as an avfr sender"
            writer.close()
            raise InputError(f"the avfr sender on {self.where} refused this call: {reason}: give the code it printed with --code")
        return reader, writer

    async def send(self, description: RTCSessionDescription) -> None:
        _, writer = await self._stream()
        writer.write(_encode({"sdp": description.sdp, "type": description.type}))
        await writer.drain()

    async def receive(self) -> object:
        from aiortc.contrib.signaling import object_from_string

        reader, _ = await self._stream()
        line = await reader.readline()
        return object_from_string(line.decode("utf-8")) if line else None

    async def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.write(_encode({"type": "bye"}))
                self._writer.close()
            except ConnectionError:
                pass
            self._reader = self._writer = None
        if self._server is not None:
            self._server.close()
            self._server = None
            if self._cleanup is not None:
                self._cleanup()


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "a local process"


async def _refuse(writer: asyncio.StreamWriter, reason: str) -> None:
    try:
        writer.write(_encode({"type": "avfr-refused", "reason": reason}))
        await writer.drain()
        writer.close()
    except ConnectionError:
        pass


class HttpOfferSignaling:
    """The sender's side of ``http``: POST the offer with the code; the response is the answer."""

    def __init__(self, url: str, code: str, attempts: int = 50) -> None:
        self.url, self.code, self.attempts = url, code, attempts
        self._answer: RTCSessionDescription | None = None

    async def connect(self) -> None:
        pass

    async def send(self, description: RTCSessionDescription) -> None:
        import aiohttp

        body = {"sdp": description.sdp, "type": description.type, "code": self.code}
        async with aiohttp.ClientSession() as session:
            for attempt in range(self.attempts):  # the receiver may still be starting
                try:
                    async with session.post(self.url, json=body) as response:
                        if response.status != 200:
                            raise InputError(f"the avfr receiver at {self.url} refused the call (HTTP {response.status}): {await response.text()}")
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
    """The receiver's side of ``http``: offers come from the web server's ``POST /call``
    (receiver/viewer.py), which asks :meth:`refusal_for` before handing one over."""

    def __init__(self, code: str, announce: Callable[[], None] = lambda: None) -> None:
        self.code, self._announce = code, announce
        self._offers: asyncio.Queue[tuple[RTCSessionDescription, asyncio.Future]] = asyncio.Queue()
        self._pending: asyncio.Future | None = None
        self._taken = False

    def refusal_for(self, presented: object) -> str | None:
        """Why an offer presenting ``presented`` is refused (None: it is the call); the first
        offer with the code takes the call."""
        reason = refusal(presented, self.code, taken=self._taken)
        self._taken = self._taken or reason is None
        return reason

    async def offer_from_http(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Called by the HTTP handler: hand the offer to the call, wait for its answer."""
        answered: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._offers.put((offer, answered))
        return await answered

    async def connect(self) -> None:
        self._announce()  # the web server that takes the offers is up by now

    async def receive(self) -> object:
        offer, self._pending = await self._offers.get()
        return offer

    async def send(self, description: RTCSessionDescription) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(description)

    async def close(self) -> None:
        pass


def say_for(role: str) -> Say:
    """Lines for the person at this end (stderr: stdout is copy-and-paste's channel)."""
    return lambda line: print(f"{COMMANDS[role]}: {line}", file=sys.stderr, flush=True)


def listening_lines(args: argparse.Namespace, role: str, code: str) -> list[str]:
    """What every listener prints once it listens (with -q too: the other side needs the
    code), and a warning when other machines can reach it."""
    lines = [f"call code {code}; on the other side run: {join_command(args, role, code)}"]
    warning = None if args.signaling == "unix-socket" else reach_warning(args.signaling_host, args.signaling_port, COMMANDS[role])
    return lines + ([warning] if warning is not None else [])


def create_signaling(args: argparse.Namespace, role: str, code: str | None) -> Signaling:
    """``role``: "offer" (the sender) or "answer" (the receiver). ``code``: this side's own
    when it listens (see :func:`listens`), else the one it was given (:func:`code_to_present`)."""
    from aiortc.contrib.signaling import CopyAndPasteSignaling

    if args.signaling == "copy-and-paste":
        return CopyAndPasteSignaling()
    if code is None:
        raise ValueError(f"--signaling {args.signaling} needs a call code")
    say = say_for(role)
    lines = listening_lines(args, role, code) if listens(args.signaling, role) else []

    def announce() -> None:
        for line in lines:
            say(line)

    if args.signaling == "http":
        if role == "offer":
            return HttpOfferSignaling(f"http://{args.signaling_host}:{args.signaling_port}/call", code)
        return HttpAnswerSignaling(code, announce)
    if args.signaling == "tcp-socket":
        host, port = args.signaling_host, args.signaling_port
        return StreamSignaling(listens(args.signaling, role), code, lambda: asyncio.open_connection(host, port),
                               lambda greet: asyncio.start_server(greet, host=host, port=port), f"{host}:{port}", say, announce)  # fmt: skip
    path = args.signaling_path
    return StreamSignaling(listens(args.signaling, role), code, lambda: asyncio.open_unix_connection(path),
                           lambda greet: asyncio.start_unix_server(greet, path=path), path, say, announce, cleanup=lambda: _remove_socket(path))  # fmt: skip


def _remove_socket(path: str) -> None:
    """Python before 3.13 leaves a closed unix server's socket file behind."""
    if os.path.exists(path):
        os.unlink(path)
