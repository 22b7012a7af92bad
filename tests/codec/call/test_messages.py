"""avfr packets on data channels: bundling round trip, and damaged messages refused."""

from __future__ import annotations

import pytest

from codec.call.messages import MotionBundler, pack_message, unpack_message
from codec.call.wire import NetemConfig
from codec.errors import StreamError
from proto import avfr_pb2


def motion(index: int, payload: bytes = b"\x01\x02") -> avfr_pb2.Packet:
    packet = avfr_pb2.Packet()
    packet.motion.frame_index = index
    packet.motion.payload = payload
    return packet


def test_a_bundle_round_trips_in_order() -> None:
    packets = [motion(i, bytes([i]) * i) for i in range(5)]
    assert [p.motion.frame_index for p in unpack_message(pack_message(packets))] == list(range(5))
    assert list(unpack_message(pack_message(packets))) == packets


def test_bundler_sends_every_n_frames_and_flushes_the_tail() -> None:
    bundler = MotionBundler(3)
    out = [bundler.add(motion(i)) for i in range(7)]
    assert [m is not None for m in out] == [False, False, True, False, False, True, False]
    tail = bundler.flush()
    assert [p.motion.frame_index for p in unpack_message(tail)] == [6]
    assert bundler.flush() is None
    with pytest.raises(ValueError):
        MotionBundler(0)


@pytest.mark.parametrize("damage", [lambda m: m[:-1], lambda m: b"\xff\xff\xff\xff\xff", lambda m: "text"])
def test_damaged_messages_raise_stream_errors(damage) -> None:  # noqa: ANN001
    message = pack_message([motion(1), motion(2)])
    with pytest.raises(StreamError):
        list(unpack_message(damage(message)))


def test_netem_settings_parse_and_refuse_nonsense() -> None:
    assert NetemConfig.parse("loss=0.1,jitter=0.05") == NetemConfig(0.1, 0.05, 0)
    assert not NetemConfig.parse("").active
    for bad in ("loss=1.5", "drop=0.1", "loss="):
        with pytest.raises(ValueError):
            NetemConfig.parse(bad)


def test_call_notes_round_trip_and_anything_else_is_refused() -> None:
    from codec.call.messages import SPEECH_ORIGIN, call_note, read_call_note

    assert read_call_note(call_note(**{SPEECH_ORIGIN: 123})) == {SPEECH_ORIGIN: 123}
    for bad in ("not json", "[1, 2]", "{" + " " * 5000 + "}"):
        with pytest.raises(StreamError):
            read_call_note(bad)
