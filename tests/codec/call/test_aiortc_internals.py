"""The aiortc/aioice internals that codec/call/opus_rtp.py and codec/call/wire.py patch or read.

Neither library promises them (private attributes, module functions, constructor signatures),
so pyproject.toml bounds both versions from above. Raising that bound is safe when this file
passes on the new version; when it fails, its message names what moved.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import aioice
import aiortc
import pytest
from aiortc import jitterbuffer, rtcrtpreceiver
from aiortc.codecs import opus

from codec.call import opus_rtp, wire

VERSIONS = f"aiortc {aiortc.__version__}, aioice {aioice.__version__}"


def fail(what: str, patched_by: str, found: str) -> None:
    pytest.fail(f"{VERSIONS}: {what} {found}; {patched_by} relies on it: adapt it, or keep the upper bound in pyproject.toml", pytrace=False)


def unpatched(current: Any, saved: Any) -> Any:
    """The library's own function even after a test in this process installed our patch."""
    return saved if saved is not None else current


def original_wire_functions() -> tuple[Any, Any]:
    return wire._originals or (aioice.Connection.sendto, aioice.Connection.recvfrom)


SIGNATURES = [
    ("aiortc.codecs.opus.OpusEncoder.__init__", lambda: unpatched(opus.OpusEncoder.__init__, opus_rtp._originals.get("encoder")),
     ["self"], "codec/call/opus_rtp.py (configure_opus_sender)"),
    ("aiortc.rtcrtpreceiver.RTCRtpReceiver.__init__",
     lambda: unpatched(rtcrtpreceiver.RTCRtpReceiver.__init__, opus_rtp._originals.get("receiver")),
     ["self", "kind", "transport"], "codec/call/opus_rtp.py (configure_audio_receiver)"),
    ("aiortc.rtcrtpreceiver.get_decoder", lambda: unpatched(rtcrtpreceiver.get_decoder, opus_rtp._originals.get("decoder")),
     ["codec"], "codec/call/opus_rtp.py (configure_audio_receiver)"),
    ("aiortc.jitterbuffer.JitterBuffer.add", lambda: jitterbuffer.JitterBuffer.add, ["self", "packet"],
     "codec/call/opus_rtp.py (SpeechJitterBuffer stands in for it)"),
    ("aiortc.jitterbuffer.JitterFrame.__init__", lambda: jitterbuffer.JitterFrame.__init__, ["self", "data", "timestamp"],
     "codec/call/opus_rtp.py (speech_frame, EachPacket)"),
    ("aioice.Connection.sendto", lambda: original_wire_functions()[0], ["self", "data", "component"], "codec/call/wire.py (install)"),
    ("aioice.Connection.recvfrom", lambda: original_wire_functions()[1], ["self"], "codec/call/wire.py (install)"),
]  # fmt: skip


@pytest.mark.parametrize("name,get,params,patched_by", SIGNATURES, ids=[s[0] for s in SIGNATURES])
def test_patched_functions_keep_their_signatures(name: str, get: Any, params: list[str], patched_by: str) -> None:
    try:
        function = get()
    except AttributeError as err:
        fail(name, patched_by, f"is missing ({err})")
    found = list(inspect.signature(function).parameters)
    if found != params:
        fail(name, patched_by, f"takes ({', '.join(found)}), not ({', '.join(params)})")


def test_the_wire_functions_are_coroutines() -> None:
    for name, function in zip(("sendto", "recvfrom"), original_wire_functions()):
        if not inspect.iscoroutinefunction(function):
            fail(f"aioice.Connection.{name}", "codec/call/wire.py (install)", "is no longer a coroutine function")


def test_the_opus_encoder_keeps_its_codec_and_resampler() -> None:
    """configure_opus_sender sets ``codec.bit_rate``, ``codec.options`` and ``resampler`` after
    aiortc's own __init__, at ``opus.SAMPLE_RATE``."""
    patched_by = "codec/call/opus_rtp.py (configure_opus_sender)"
    if getattr(opus, "SAMPLE_RATE", None) != 48000:
        fail("aiortc.codecs.opus.SAMPLE_RATE", patched_by, f"is {getattr(opus, 'SAMPLE_RATE', 'missing')}, not 48000")
    encoder = opus.OpusEncoder.__new__(opus.OpusEncoder)
    unpatched(opus.OpusEncoder.__init__, opus_rtp._originals.get("encoder"))(encoder)
    for attribute in ("codec", "resampler"):
        if not hasattr(encoder, attribute):
            fail(f"aiortc.codecs.opus.OpusEncoder.{attribute}", patched_by, "is no longer set by __init__")
    for attribute in ("bit_rate", "options"):
        if not hasattr(encoder.codec, attribute):
            fail(f"aiortc.codecs.opus.OpusEncoder.codec.{attribute}", patched_by, "is missing")


def test_the_audio_receiver_keeps_its_private_jitter_buffer() -> None:
    """configure_audio_receiver replaces ``RTCRtpReceiver.__jitter_buffer`` (name-mangled) after
    aiortc's __init__; the receiver must still feed it every depayloaded packet (``_data``) and
    look its decoder up through the module's ``get_decoder``."""
    patched_by = "codec/call/opus_rtp.py (configure_audio_receiver)"
    receiver = rtcrtpreceiver.RTCRtpReceiver.__new__(rtcrtpreceiver.RTCRtpReceiver)
    init = unpatched(rtcrtpreceiver.RTCRtpReceiver.__init__, opus_rtp._originals.get("receiver"))
    init(receiver, "audio", SimpleNamespace(state="new"))
    if not hasattr(receiver, "_RTCRtpReceiver__jitter_buffer"):
        fail("aiortc.rtcrtpreceiver.RTCRtpReceiver._RTCRtpReceiver__jitter_buffer", patched_by, "is no longer set by __init__")
    handler = inspect.getsource(rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet)
    for needle in ("self.__jitter_buffer.add(packet)", "packet._data ="):
        if needle not in handler:
            fail("aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet", patched_by, f"no longer contains {needle!r}")
    if "get_decoder(codec)" not in inspect.getsource(rtcrtpreceiver.decoder_worker):
        fail("aiortc.rtcrtpreceiver.decoder_worker", patched_by, "no longer calls the module's get_decoder(codec)")
