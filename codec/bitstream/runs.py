"""Runs: consecutive motion frames, or audio packets, in one .avfr record (container version 3).

Why: a record costs its framing whatever it holds (length, CRC, the Packet's tags and lengths,
a motion frame's index): ~12 bytes, where a compact motion frame's payload is ~7-13 bytes and
a 20 ms Opus packet's ~20-25. At 25 motion frames and 50 speech packets a second that framing
was ~2.5 kbit/s of video and ~2 kbit/s of speech (benchmarks/results/rd-dev.md, container
version 2), as much as the motion itself. A run keeps one record's framing and adds ~2 bytes
(a tag and a length) for each further frame or packet.

What may join a run is exactly what the receiver can rebuild without loss:

* a motion frame whose only fields are its frame index (the previous one's + 1) and its
  payload, in the run head's coding: a predicted compact frame. A self-contained frame, a
  change of coder settings or a frame with an explicit timestamp opens a new record, so a
  run never spans a place a decoder can start at;
* an audio packet whose only field is its Opus data: one 20 ms frame that starts where the
  previous one ended. A packet that carries its timing opens a new run, so the sender's
  once-a-second timed packet (sender/encoder.py) is the head of nearly every run, and the
  speech after a damaged run is placed exactly.

A run costs what a damaged record costs, all of it: its frames are held until the next
self-contained one, as every predicted frame after a lost one already is, and its speech is
silent. A writer also holds a run until it closes, so a writer killed mid-run loses the run:
the caps below bound both (2 s of motion, 1 s of speech).

:func:`expand` turns a record's packet back into the packets that were gathered, bit for bit,
so everything after the reader sees what the sender sent.
"""

from __future__ import annotations

from proto import avfr_pb2

MAX_MOTION_RUN = 50  # frames per record: 2 s at 25 fps
MAX_AUDIO_RUN = 50  # packets per record: 1 s of 20 ms packets
# What a reader accepts: a longer run is damage, so a forged record cannot make it build
# millions of packets out of 2-byte members.
MAX_RUN_READ = 4 * max(MAX_MOTION_RUN, MAX_AUDIO_RUN)
_MAX_FRAME_INDEX = 2**32 - 1
# Bytes one further frame or packet takes in a run at the least: a field tag and a length.
MIN_RUN_MEMBER_BYTES = 2


def member_bytes(data: bytes) -> int:
    """Bytes a payload takes as a further member of a run (its tag, length and bytes), as the
    schema serialises it (motion's run_payloads and audio's run_data both have 1-byte tags)."""
    return avfr_pb2.AudioPacket(run_data=[data]).ByteSize()


def is_predicted_motion(motion: avfr_pb2.MotionFrame) -> bool:
    """A motion frame that holds nothing but its index, coding and payload: what can join a
    run (and, in a file with runs, costs :func:`member_bytes` of its payload)."""
    return motion == avfr_pb2.MotionFrame(frame_index=motion.frame_index, coding=motion.coding, payload=motion.payload)


def joins_motion_run(head: avfr_pb2.MotionFrame, motion: avfr_pb2.MotionFrame) -> bool:
    """Whether ``motion`` can follow ``head``'s run and be rebuilt exactly from its payload."""
    next_index = head.frame_index + len(head.run_payloads) + 1
    return motion.frame_index == next_index and motion.coding == head.coding and is_predicted_motion(motion)


def joins_audio_run(audio: avfr_pb2.AudioPacket) -> bool:
    """Whether ``audio`` holds nothing but its data: one 20 ms frame right after the last."""
    return audio == avfr_pb2.AudioPacket(data=audio.data)


def has_run(packet: avfr_pb2.Packet) -> bool:
    kind = packet.WhichOneof("body")
    return (kind == "motion" and len(packet.motion.run_payloads) > 0) or (kind == "audio" and len(packet.audio.run_data) > 0)


class RunGatherer:
    """Gathers a writer's packets into runs: :meth:`add` returns the packets to write now, in
    order. Motion and speech runs are open at the same time (they interleave); any other
    packet (header, keyframe, end of stream) closes both first, so a keyframe never lands
    before motion frames that were rendered from the one before it."""

    def __init__(self, max_motion: int = MAX_MOTION_RUN, max_audio: int = MAX_AUDIO_RUN) -> None:
        self.max_motion = max_motion
        self.max_audio = max_audio
        self._motion: avfr_pb2.Packet | None = None
        self._audio: avfr_pb2.Packet | None = None

    def add(self, packet: avfr_pb2.Packet) -> list[avfr_pb2.Packet]:
        kind = packet.WhichOneof("body")
        if kind == "motion":
            return self._add_motion(packet)
        if kind == "audio":
            return self._add_audio(packet)
        return self.flush() + [packet]

    def flush(self) -> list[avfr_pb2.Packet]:
        """The open runs, motion first (a writer's close, or before any other packet)."""
        out = [p for p in (self._motion, self._audio) if p is not None]
        self._motion = self._audio = None
        return out

    def _add_motion(self, packet: avfr_pb2.Packet) -> list[avfr_pb2.Packet]:
        run = self._motion
        if run is not None and len(run.motion.run_payloads) + 1 < self.max_motion and joins_motion_run(run.motion, packet.motion):
            run.motion.run_payloads.append(packet.motion.payload)
            return []
        self._motion = _copy(packet)
        return [run] if run is not None else []

    def _add_audio(self, packet: avfr_pb2.Packet) -> list[avfr_pb2.Packet]:
        run = self._audio
        if run is not None and len(run.audio.run_data) + 1 < self.max_audio and joins_audio_run(packet.audio):
            run.audio.run_data.append(packet.audio.data)
            return []
        self._audio = _copy(packet)
        return [run] if run is not None else []


def run_problem(packet: avfr_pb2.Packet) -> str | None:
    """Why a record's run cannot be expanded (a few words for a damage line), or None."""
    kind = packet.WhichOneof("body")
    members = len(packet.motion.run_payloads) if kind == "motion" else len(packet.audio.run_data) if kind == "audio" else 0
    if members + 1 > MAX_RUN_READ:
        return f"a run of {members + 1} packets, more than {MAX_RUN_READ}"
    if kind == "motion" and packet.motion.frame_index + members > _MAX_FRAME_INDEX:
        return "a run past the last frame index"
    return None


def expand(packet: avfr_pb2.Packet) -> list[tuple[avfr_pb2.Packet, int]]:
    """The packets a record's packet holds, each with the bytes of the record's serialized
    packet that are its own (the head: all but its members' fields), in stream order."""
    kind = packet.WhichOneof("body")
    if not has_run(packet):
        return [(packet, packet.ByteSize())]
    head = _copy(packet)
    if kind == "motion":
        members = list(head.motion.run_payloads)
        del head.motion.run_payloads[:]
        first, coding = head.motion.frame_index, head.motion.coding
        parts = [avfr_pb2.Packet(motion=avfr_pb2.MotionFrame(frame_index=first + i + 1, coding=coding, payload=p)) for i, p in enumerate(members)]
    else:
        members = list(head.audio.run_data)
        del head.audio.run_data[:]
        parts = [avfr_pb2.Packet(audio=avfr_pb2.AudioPacket(data=d)) for d in members]
    shares = [member_bytes(m) for m in members]
    return [(head, packet.ByteSize() - sum(shares))] + list(zip(parts, shares))


def _copy(packet: avfr_pb2.Packet) -> avfr_pb2.Packet:
    out = avfr_pb2.Packet()
    out.CopyFrom(packet)
    return out


__all__ = [
    "RunGatherer",
    "expand",
    "run_problem",
    "has_run",
    "member_bytes",
    "is_predicted_motion",
    "joins_motion_run",
    "joins_audio_run",
    "MIN_RUN_MEMBER_BYTES",
]
