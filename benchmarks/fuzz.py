"""Fuzzing everything that reads a stream: ``python -m benchmarks.fuzz --inputs 100000``.

Each input is a structure-aware mutation of a real stream (``benchmarks/fuzz_seeds/``, made
by ``avfr encode`` from the public-domain astronaut clip of ``avfr demo``), run through the
container reader (strict, and resyncing past damage), the packet parser, the motion decoders
(raw FP16 and compact, from the stream's own header), the receiver's pass 1 (header checks,
damage plan, speech placement and Opus decoding) and `avfr info`'s accounting
(``describe_file``, its text and JSON). The rules, checked on every input:

* no exception but the project's own (``codec.errors.AvfrError`` and its subclasses);
* no hang: at most ``MAX_SECONDS`` of CPU time an input (a hard stop at ``HARD_STOP_SECONDS``
  of wall time; CPU time, because on a shared machine a descheduled input's wall time says
  nothing about the code; an input over it while its memory was traced is timed again
  without tracemalloc, which alone makes an input ~4x slower);
* no allocation that follows a length or count field rather than the data present: the
  traced peak (tracemalloc) stays under ``MEMORY_BASE + MEMORY_PER_BYTE`` x the input's size;
* `avfr info`'s four parts add up to the file size.

Why structure-aware: a byte mutation rarely gets past a record's CRC, so a plain fuzzer
tests the CRC check and little else. These mutations know the framing (length, packet, CRC):
they edit length fields and protobuf fields and re-sign the CRC so that forged packets reach
the parser and the decoders, and they duplicate, drop, reorder and splice whole records, as
well as flipping bits, overwriting and inserting bytes and cutting the file as damage does.
libFuzzer (atheris) chooses what to mutate next by the coverage of the instrumented
``codec``, ``receiver`` and ``proto`` code, and contributes its own byte-level mutations.

Results: ``benchmarks/results/fuzz.json`` and ``fuzz.md``; inputs that broke a rule are
written to ``--findings`` (default ``out/fuzz-findings/``) to be replayed with ``--replay``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "benchmarks" / "fuzz_seeds"
MAX_SECONDS = 1.0
HARD_STOP_SECONDS = 10.0
MEMORY_BASE = 1024 * 1024
MEMORY_PER_BYTE = 32
MAX_INPUT_BYTES = 32 * 1024  # ~5x a seed: room for splices and duplicated records
UNMUTATED = "seed_or_crossover"
MUTATION_FAILED = 3  # exit code: one of our mutations raised (a bug in the fuzzer, not a finding)
PRISTINE_SHARE = 0.3  # inputs mutated from an untouched seed rather than from the corpus entry


# --------------------------------------------------------------------------- records


@dataclass
class Split:
    """A stream as its framing says: the preamble, whole records, and whatever does not frame."""

    preamble: bytes
    records: list[bytes]
    tail: bytes = b""

    def join(self) -> bytes:
        return self.preamble + b"".join(self.records) + self.tail


def split(data: bytes) -> Split:
    """Records by their length fields alone (no CRC check): a mutant's framing, as far as it goes."""
    from codec.bitstream.container import CRC_BYTES, PREAMBLE_BYTES, decode_varint

    out = Split(data[:PREAMBLE_BYTES], [])
    pos = PREAMBLE_BYTES
    while pos < len(data):
        head = decode_varint(data, pos)
        if head is None or pos + head[1] + head[0] + CRC_BYTES > len(data):
            break
        end = pos + head[1] + head[0] + CRC_BYTES
        out.records.append(data[pos:end])
        pos = end
    out.tail = data[pos:]
    return out


def payload_of(record: bytes) -> bytes:
    from codec.bitstream.container import decode_varint

    length, n = decode_varint(record)  # type: ignore[misc]
    return record[n : n + length]


# --------------------------------------------------------------------------- mutations

Mutation = Callable[[random.Random, bytes, list[bytes]], bytes]


def _position(rng: random.Random, data: bytes) -> int:
    from codec.bitstream.container import PREAMBLE_BYTES

    if len(data) <= PREAMBLE_BYTES or rng.random() < 0.05:
        return rng.randrange(max(len(data), 1))
    return rng.randrange(PREAMBLE_BYTES, len(data))


def bit_flips(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        if out:
            out[_position(rng, out)] ^= 1 << rng.randrange(8)
    return bytes(out)


def overwrite_bytes(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """A run of bytes overwritten (4 flipped, as in the issue, or random, zeros, 0xFF)."""
    out = bytearray(data)
    if not out:
        return data
    at, n = _position(rng, out), rng.choice((1, 2, 4, 4, 16, 64))
    fill = rng.choice(("flip", "random", "zero", "ff"))
    for i in range(at, min(at + n, len(out))):
        out[i] = {"flip": out[i] ^ 0xFF, "random": rng.randrange(256), "zero": 0, "ff": 0xFF}[fill]
    return bytes(out)


def insert_garbage(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    at = _position(rng, data) if data else 0
    junk = rng.choice((rng.randbytes(rng.choice((1, 3, 16, 300))), bytes(rng.choice((1, 7, 64))), data[at : at + 40]))
    return data[:at] + junk + data[at:]


def truncate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def splice(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """This stream's head and another's tail, at record boundaries or anywhere."""
    other = rng.choice(seeds)
    if rng.random() < 0.5:
        a, b = split(data), split(other)
        i, j = rng.randrange(len(a.records) + 1), rng.randrange(len(b.records) + 1)
        return a.preamble + b"".join(a.records[:i] + b.records[j:]) + b.tail
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def edit_length_field(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """A record's length field replaced: off by a little, zero, at and past the limits, far
    past the data, or over-long (5 bytes)."""
    from codec.bitstream.container import MAX_PACKET_BYTES, decode_varint, encode_varint

    s = split(data)
    if not s.records:
        return bit_flips(rng, data, seeds)
    k = rng.randrange(len(s.records))
    length, n = decode_varint(s.records[k])  # type: ignore[misc]
    new = rng.choice((length + 1, length - 1, length + rng.randrange(2, 4096), 0, 1, MAX_PACKET_BYTES, MAX_PACKET_BYTES + 1, (1 << 28) - 1, len(data) * 2))
    head = encode_varint(max(new, 0)) if rng.random() < 0.9 else b"\xff\xff\xff\xff\x0f"
    s.records[k] = head + s.records[k][n:]
    return s.join()


def edit_protobuf_field(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """One field of one packet set to an edge value, re-serialised and re-signed, so that the
    forged packet passes the CRC and reaches the decoders (the header is picked often: its
    counts and sizes are what a decoder would allocate by)."""
    from codec.bitstream.container import frame_payload
    from proto import avfr_pb2

    s = split(data)
    if not s.records:
        return bit_flips(rng, data, seeds)
    k = 0 if rng.random() < 0.3 else rng.randrange(len(s.records))
    packet = avfr_pb2.Packet()
    try:
        packet.ParseFromString(payload_of(s.records[k]))
    except Exception:  # noqa: BLE001 (a mutant's bytes: any parse failure means "not a packet")
        return bit_flips(rng, data, seeds)
    kind = packet.WhichOneof("body")
    if kind is None:
        return bit_flips(rng, data, seeds)
    message = getattr(packet, kind)
    if kind == "header" and rng.random() < 0.2:
        message = message.compact_motion
    elif kind == "motion" and rng.random() < 0.2:
        message = message.compact_params
    _set_edge_value(rng, message)
    s.records[k] = frame_payload(packet.SerializeToString())
    return s.join()


def _set_edge_value(rng: random.Random, message) -> None:  # noqa: ANN001 (any protobuf message)
    from google.protobuf.descriptor import FieldDescriptor as F

    fields = [f for f in message.DESCRIPTOR.fields if f.type != F.TYPE_MESSAGE]
    if not fields:
        return
    f = rng.choice(fields)
    if rng.random() < 0.1:
        message.ClearField(f.name)
        return
    if f.label == F.LABEL_REPEATED:  # a run's members (container version 3)
        _edit_run(rng, getattr(message, f.name))
        return
    if f.type == F.TYPE_BOOL:
        setattr(message, f.name, not getattr(message, f.name))
    elif f.type == F.TYPE_BYTES:
        value = getattr(message, f.name)
        setattr(
            message,
            f.name,
            rng.choice(
                (b"", value[: rng.randrange(len(value) + 1)], value + rng.randbytes(rng.randrange(1, 200)), rng.randbytes(rng.choice((1, 2, 120, 1000))))
            ),
        )
    elif f.type == F.TYPE_STRING:
        setattr(message, f.name, rng.choice(("", "x" * rng.randrange(300), "light-128", "\u00e9\u0000")))
    elif f.type == F.TYPE_ENUM:
        setattr(message, f.name, rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 99, 2**31 - 1)))
    else:
        top = 2**64 - 1 if f.type in (F.TYPE_UINT64, F.TYPE_FIXED64) else 2**32 - 1
        current = getattr(message, f.name)
        setattr(
            message,
            f.name,
            min(
                max(
                    rng.choice((0, 1, 2, 3, 7, 64, 65, 1000, 2**16, 2**31 - 1, 2**31, top, current + 1, max(current - 1, 0), current * 2, rng.randrange(top))),
                    0,
                ),
                top,
            ),
        )


def _edit_run(rng: random.Random, members) -> None:  # noqa: ANN001 (a repeated bytes field)
    """Drop, cut, grow or flood a run's members (a long run of empty members is the cheapest
    way to ask a reader for many packets)."""
    choice = rng.randrange(4)
    if choice == 0 and members:
        del members[rng.randrange(len(members))]
    elif choice == 1 and members:
        i = rng.randrange(len(members))
        members[i] = members[i][: rng.randrange(len(members[i]) + 1)]
    elif choice == 2:
        members.append(rng.randbytes(rng.choice((0, 1, 13, 300))))
    else:
        members.extend([b""] * rng.choice((50, 199, 200, 201, 5000)))


def edit_protobuf_bytes(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """Bits of one packet's serialized bytes changed, then re-signed: malformed protobuf
    (tags, wire types, nested lengths) that the CRC no longer stops."""
    from codec.bitstream.container import frame_payload

    s = split(data)
    if not s.records:
        return bit_flips(rng, data, seeds)
    k = rng.randrange(len(s.records))
    payload = bytearray(payload_of(s.records[k]))
    for _ in range(rng.choice((1, 2, 4))):
        if payload and rng.random() < 0.7:
            payload[rng.randrange(len(payload))] ^= 1 << rng.randrange(8)
        else:
            at = rng.randrange(len(payload) + 1)
            payload[at:at] = rng.randbytes(rng.randrange(1, 6))
    s.records[k] = frame_payload(bytes(payload))
    return s.join()


def duplicate_records(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    s = split(data)
    if not s.records:
        return insert_garbage(rng, data, seeds)
    i = rng.randrange(len(s.records))
    run = s.records[i : i + rng.choice((1, 1, 2, 5))] * rng.choice((1, 2, 3))
    at = rng.randrange(len(s.records) + 1)
    s.records[at:at] = run
    return s.join()


def reorder_records(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    s = split(data)
    if len(s.records) < 2:
        return bit_flips(rng, data, seeds)
    if rng.random() < 0.5:
        i, j = rng.sample(range(len(s.records)), 2)
        s.records[i], s.records[j] = s.records[j], s.records[i]
    else:
        i = rng.randrange(len(s.records) - 1)
        window = s.records[i : i + rng.randrange(2, 9)]
        rng.shuffle(window)
        s.records[i : i + len(window)] = window
    return s.join()


def drop_records(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """Whole records gone, framing intact (what a lost packet looks like)."""
    s = split(data)
    if not s.records:
        return truncate(rng, data, seeds)
    i = rng.randrange(len(s.records))
    del s.records[i : i + rng.choice((1, 1, 2, 4, 30))]
    return s.join()


def edit_preamble(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    from codec.bitstream.container import preamble

    head = rng.choice((preamble(1), preamble(2), preamble(3), preamble(0), b"AVFR\x02\x00\x01\x00", b"AVF", b"RIFF\x02\x00\x00\x00"))
    return head + data[8:]


MUTATIONS: dict[str, Mutation] = {
    "bit_flips": bit_flips,
    "overwrite_bytes": overwrite_bytes,
    "insert_garbage": insert_garbage,
    "truncate": truncate,
    "splice": splice,
    "length_field": edit_length_field,
    "protobuf_field": edit_protobuf_field,
    "protobuf_bytes": edit_protobuf_bytes,
    "duplicate_records": duplicate_records,
    "reorder_records": reorder_records,
    "drop_records": drop_records,
    "preamble": edit_preamble,
}


# --------------------------------------------------------------------------- what is fuzzed


def exercise(data: bytes, scratch: Path) -> int:
    """Every reader on one input; returns how many of them refused it with an AvfrError."""
    from codec.errors import AvfrError

    scratch.write_bytes(data)
    refused = 0
    for target in (read_strict, read_resyncing, decode_motion, scan_for_decoding, account):
        try:
            target(data, scratch)
        except AvfrError:
            refused += 1
    return refused


def read_strict(data: bytes, path: Path) -> None:
    from codec.bitstream.container import AvfrReader

    for _ in AvfrReader(io.BytesIO(data)):
        pass


def read_resyncing(data: bytes, path: Path) -> None:
    from codec.bitstream.container import AvfrReader
    from codec.bitstream.damage import plan_damage
    from codec.bitstream.index import StreamIndex
    from codec.bitstream.info import packet_sizes

    index = StreamIndex.scan(AvfrReader(io.BytesIO(data), resync=True))
    plan = plan_damage(index.entries)
    plan.lines()
    motion = [e.frame_index for e in index.entries if e.kind == "motion"]
    if motion:
        for _ in index.seek_frame(motion[len(motion) // 2]):
            pass
    account = packet_sizes(io.BytesIO(data))
    if sum(account.parts().values()) != len(data):
        raise AccountingError(f"packet_sizes accounts for {sum(account.parts().values())} of {len(data)} bytes")


def decode_motion(data: bytes, path: Path) -> None:
    """Every motion packet through the decoder its header sets up (raw or compact); a frame
    the decoder refuses does not stop the frames after it."""
    from codec.bitstream.container import AvfrReader
    from codec.bitstream.motion import MotionStreamDecoder
    from codec.errors import StreamError

    decoder = None
    try:
        for record in AvfrReader(io.BytesIO(data), resync=True).records():
            if record.kind == "header":
                decoder = MotionStreamDecoder(record.packet.header)
            elif record.kind == "motion" and decoder is not None:
                try:
                    decoder.decode(record.packet.motion)
                except StreamError:
                    pass
    except StreamError:
        pass


def scan_for_decoding(data: bytes, path: Path) -> None:
    from receiver.decoder import scan_stream

    scan_stream(path)


def account(data: bytes, path: Path) -> None:
    from codec.bitstream.info import describe_file

    info = describe_file(path)
    info.to_text()
    json.loads(info.to_json())
    if sum(info.bytes.values()) != len(data):
        raise AccountingError(f"avfr info accounts for {sum(info.bytes.values())} of {len(data)} bytes")


class AccountingError(Exception):
    """The byte accounting does not add up to the file (a rule of its own, not a user error)."""


# --------------------------------------------------------------------------- campaign


class _HardStop(Exception):
    pass


@dataclass
class Finding:
    rule: str  # exception, slow, memory
    mutation: str
    detail: str
    input_sha1: str
    input_bytes: int

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class Campaign:
    """Counts over a run, and what broke a rule."""

    target: int
    scratch: Path
    findings_dir: Path
    memory_every: int = 1  # trace allocations on every nth input (tracemalloc makes one ~3x slower)
    inputs: int = 0
    memory_checked: int = 0
    retimed: int = 0  # traced inputs over the time limit, timed again untraced
    by_mutation: Counter = field(default_factory=Counter)  # inputs by the mutation that made them
    refused_by_a_reader: int = 0
    findings: list[Finding] = field(default_factory=list)
    slowest_ms: float = 0.0  # CPU time
    slowest_mutation: str = ""
    slowest_wall_ms: float = 0.0
    slowest_input: bytes = b""
    ms_per_kib: float = 0.0  # CPU time per KiB of input, at most (over inputs of 1 KiB or more): linear work stays flat
    peak_bytes: int = 0
    peak_ratio: float = 0.0  # of the traced peak to the input's size, at most
    input_bytes_max: int = 0
    started: float = field(default_factory=time.perf_counter)
    last_mutation: str = UNMUTATED

    def run_one(self, data: bytes) -> None:
        mutation, self.last_mutation = self.last_mutation, UNMUTATED
        self.inputs += 1
        self.by_mutation[mutation] += 1
        self.input_bytes_max = max(self.input_bytes_max, len(data))
        traced = self.inputs % self.memory_every == 0
        if traced:
            tracemalloc.start(1)
        signal.setitimer(signal.ITIMER_REAL, HARD_STOP_SECONDS)
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            self.refused_by_a_reader += exercise(data, self.scratch) > 0
        except _HardStop:
            self._found("slow", mutation, data, f"still running after {HARD_STOP_SECONDS:g} s: {_where()}")
        except Exception as exc:  # noqa: BLE001 (anything but AvfrError breaks the rule)
            rule = "accounting" if isinstance(exc, AccountingError) else "exception"
            self._found(rule, mutation, data, f"{type(exc).__name__}: {str(exc)[:300]} at {_where()}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        ms = 1000 * (time.thread_time() - cpu_started)
        wall_ms = 1000 * (time.perf_counter() - started)
        if traced:
            self._check_memory(tracemalloc.get_traced_memory()[1], mutation, data)
            tracemalloc.stop()
            if ms > 1000 * MAX_SECONDS:  # tracing makes an input ~4x slower: time the code alone
                ms, wall_ms = self._time_untraced(data)
        self.slowest_wall_ms = max(self.slowest_wall_ms, wall_ms)
        if ms > self.slowest_ms:
            self.slowest_ms, self.slowest_mutation, self.slowest_input = ms, mutation, data
        if len(data) >= 1024:
            self.ms_per_kib = max(self.ms_per_kib, ms / (len(data) / 1024))
        if ms > 1000 * MAX_SECONDS:
            self._found("slow", mutation, data, f"took {ms:.0f} ms of CPU time")

    def _time_untraced(self, data: bytes) -> tuple[float, float]:
        """(CPU ms, wall ms) of one more run of an input, without tracemalloc."""
        signal.setitimer(signal.ITIMER_REAL, HARD_STOP_SECONDS)
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            exercise(data, self.scratch)
        except Exception:  # noqa: BLE001 (its outcome was recorded by the traced run)
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.retimed += 1
        return 1000 * (time.thread_time() - cpu_started), 1000 * (time.perf_counter() - started)

    def _check_memory(self, peak: int, mutation: str, data: bytes) -> None:
        self.memory_checked += 1
        self.peak_bytes = max(self.peak_bytes, peak)
        self.peak_ratio = max(self.peak_ratio, peak / max(len(data), 1))
        if peak > MEMORY_BASE + MEMORY_PER_BYTE * len(data):
            self._found("memory", mutation, data, f"traced peak {peak} bytes for a {len(data)}-byte input")

    def _found(self, rule: str, mutation: str, data: bytes, detail: str) -> None:
        sha = hashlib.sha1(data).hexdigest()
        self.findings.append(Finding(rule, mutation, detail, sha, len(data)))
        self.findings_dir.mkdir(parents=True, exist_ok=True)
        (self.findings_dir / f"{rule}-{sha[:12]}.avfr").write_bytes(data)
        print(f"fuzz: {rule} ({mutation}): {detail} -> {self.findings_dir / f'{rule}-{sha[:12]}.avfr'}", file=sys.stderr)

    def result(self, seeds: dict[str, int], seed: int) -> dict:
        wall = time.perf_counter() - self.started
        self.findings_dir.mkdir(parents=True, exist_ok=True)
        (self.findings_dir / "slowest.avfr").write_bytes(self.slowest_input)  # to profile with --replay
        exceptions = sum(f.rule == "exception" for f in self.findings)
        return {
            "inputs": self.inputs,
            "by_mutation": dict(sorted(self.by_mutation.items())),
            "exceptions_found": exceptions,
            "findings": [f.to_dict() for f in self.findings],
            "rules_broken": dict(Counter(f.rule for f in self.findings)),
            "refused_with_an_avfr_error": self.refused_by_a_reader,
            "slowest_input_ms": round(self.slowest_ms, 2),
            "slowest_input_wall_ms": round(self.slowest_wall_ms, 2),
            "retimed_without_tracing": self.retimed,
            "cpu_ms_per_kib_max": round(self.ms_per_kib, 2),
            "slowest_input_mutation": self.slowest_mutation,
            "memory_checked_inputs": self.memory_checked,
            "peak_traced_bytes": self.peak_bytes,
            "peak_bytes_per_input_byte": round(self.peak_ratio, 2),
            "largest_input_bytes": self.input_bytes_max,
            "wall_s": round(wall, 1),
            "inputs_per_s": round(self.inputs / wall, 1) if wall else 0.0,
            "rules": {
                "max_seconds": MAX_SECONDS,
                "memory_limit": f"{MEMORY_BASE} + {MEMORY_PER_BYTE} x input bytes",
                "errors_allowed": "codec.errors.AvfrError and subclasses",
            },  # fmt: skip
            "seeds": seeds,
            "libfuzzer_seed": seed,
            "targets": [
                "container reader (strict)",
                "container reader (resync) + index + seek + packet_sizes + damage plan",
                "motion decoders (raw, compact) from the stream's header",
                "receiver pass 1 (scan_stream: header, damage plan, Opus speech placement)",
                "avfr info accounting (describe_file, to_text, to_json)",
            ],  # fmt: skip
        }


def _where() -> str:
    frames = traceback.extract_tb(sys.exc_info()[2])
    ours = [f for f in frames if str(REPO) in f.filename and "benchmarks/fuzz.py" not in f.filename] or frames
    f = ours[-1]
    return f"{Path(f.filename).relative_to(REPO) if str(REPO) in f.filename else f.filename}:{f.lineno} ({f.name})"


def _hard_stop(signum, frame) -> None:  # noqa: ANN001
    raise _HardStop()


def load_seeds(folder: Path = SEEDS) -> dict[str, bytes]:
    seeds = {p.name: p.read_bytes() for p in sorted(folder.glob("*.avfr"))}
    if not seeds:
        raise SystemExit(f"no seed streams in {folder}: run python -m benchmarks.fuzz --make-seeds")
    return seeds


def fuzz(inputs: int, seed: int, findings_dir: Path, on_done: Callable[[Campaign], None], memory_every: int = 1) -> None:
    """Run ``inputs`` inputs under libFuzzer, then call ``on_done`` and exit (libFuzzer ends
    the process itself; it never returns to the caller)."""
    import atheris

    # Coverage of what parses and decides; not of the arithmetic decoder's bit loop, whose
    # branches say nothing about structure and whose tracing was half of each input's time.
    with atheris.instrument_imports(include=["codec.bitstream", "codec.media.opus", "receiver.decoder", "proto"], exclude=["codec.bitstream.arithmetic"]):
        import codec.bitstream.container  # noqa: F401
        import codec.bitstream.damage  # noqa: F401
        import codec.bitstream.info  # noqa: F401
        import codec.bitstream.motion  # noqa: F401
        import receiver.decoder  # noqa: F401

    seeds = load_seeds()
    pristine = list(seeds.values())
    scratch_dir = Path(tempfile.mkdtemp(prefix="avfr-fuzz-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    campaign = Campaign(inputs, scratch_dir / "input.avfr", findings_dir, memory_every)
    corpus = scratch_dir / "corpus"
    corpus.mkdir()
    for name, data in seeds.items():
        (corpus / name).write_bytes(data)

    def mutate(data: bytes, max_size: int, mutator_seed: int) -> bytes:
        """libFuzzer hangs, rather than failing, when a custom mutator raises: stop it here."""
        try:
            return mutate_unguarded(data, max_size, mutator_seed)
        except BaseException:
            traceback.print_exc()
            print(f"fuzz: the mutation {campaign.last_mutation} raised (above): fix it, then run again", file=sys.stderr, flush=True)
            os._exit(MUTATION_FAILED)

    def mutate_unguarded(data: bytes, max_size: int, mutator_seed: int) -> bytes:
        rng = random.Random(mutator_seed)
        if not data or rng.random() < PRISTINE_SHARE:
            data = rng.choice(pristine)
        if rng.random() < 0.1:
            campaign.last_mutation = "libfuzzer_bytes"
            return atheris.Mutate(data, min(max_size, MAX_INPUT_BYTES))
        name = rng.choice(list(MUTATIONS))
        campaign.last_mutation = name
        return MUTATIONS[name](rng, data, pristine)[:max_size]

    def test_one_input(data: bytes) -> None:
        campaign.run_one(data)
        if campaign.inputs >= inputs:
            on_done(campaign)
            os._exit(0)

    signal.signal(signal.SIGALRM, _hard_stop)
    gc.freeze()  # the imports' millions of objects (torch's among them) need no collecting between inputs
    argv = [sys.argv[0], f"-seed={seed}", f"-runs={inputs * 2 + 100}", f"-max_len={MAX_INPUT_BYTES}", "-timeout=0",
            "-rss_limit_mb=4096", "-print_final_stats=0", "-print_pcs=0", str(corpus)]  # fmt: skip
    atheris.Setup(argv, test_one_input, custom_mutator=mutate)
    atheris.Fuzz()


# --------------------------------------------------------------------------- seeds


def make_seeds(folder: Path = SEEDS) -> None:
    """Real streams from the public-domain clip `avfr demo` animates (committable): compact
    with the defaults, compact under rate control (settings change mid-stream, 48 kHz speech),
    raw FP16, and raw rewritten as a version 1 file (every audio packet timed)."""
    from codec.media.public_face import synthetic_clip
    from sender.encoder import encode_file
    from sender.presets import EncodeSettings

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "astronaut.mp4", frames=30)
        specs = {"compact": (EncodeSettings(), {"max_frames": 12}),
                 "rate": (EncodeSettings(target_kbps=3, intra_period=5), {"max_frames": 30, "audio_sample_rate": 48000}),
                 "raw": (EncodeSettings(), {"motion_coding": "raw", "max_frames": 8})}  # fmt: skip
        for name, (settings, fixed) in specs.items():  # what `avfr encode` runs for the same flags
            encode_file(clip, folder / f"{name}.avfr", settings.options(**fixed), progress=False)
    write_version_1(folder / "raw.avfr", folder / "v1.avfr")


def write_version_1(source: Path, target: Path) -> None:
    """The same packets as a version 1 writer framed them: every audio packet carries its timing."""
    from codec.bitstream.container import AvfrReader, encode_record, preamble

    pts, out = 0, bytearray(preamble(1))
    for packet in AvfrReader(source):
        if packet.HasField("audio"):
            a = packet.audio
            a.pts_samples = a.pts_samples or pts
            a.sample_count = a.sample_count or 320
            a.timestamp_us = round(a.pts_samples * 1_000_000 / 16000)
            pts = a.pts_samples + a.sample_count
        out += encode_record(packet)
    target.write_bytes(bytes(out))


# --------------------------------------------------------------------------- results


def markdown(r: dict) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in r["by_mutation"].items())
    findings = "\n".join(f"- {f['rule']} ({f['mutation']}): {f['detail']}" for f in r["findings"]) or "- none"
    return f"""# Fuzzing the stream readers

`python -m benchmarks.fuzz --inputs {r["inputs"]}` (atheris {r.get("atheris", "?")}, libFuzzer seed {r["libfuzzer_seed"]}):
{r["inputs"]} structure-aware mutations of {len(r["seeds"])} real streams ({", ".join(r["seeds"])}) through
{"; ".join(r["targets"])}.

| rule | result |
|---|---|
| exceptions other than AvfrError | {r["exceptions_found"]} |
| inputs over {r["rules"]["max_seconds"]:g} s of CPU time | {r["rules_broken"].get("slow", 0)} (slowest {r["slowest_input_ms"]:.1f} ms, {r["slowest_input_mutation"]}; {r["slowest_input_wall_ms"]:.0f} ms at most in wall time on this shared machine; at most {r["cpu_ms_per_kib_max"]:g} ms per KiB of input; {r["retimed_without_tracing"]} timed again without tracemalloc) |
| traced peak over {r["rules"]["memory_limit"]} | {r["rules_broken"].get("memory", 0)} of {r["memory_checked_inputs"]} traced (highest {r["peak_traced_bytes"] / 1024:.0f} KiB; at most {r["peak_bytes_per_input_byte"]:g} bytes per input byte) |
| `avfr info` parts not adding up to the file | {r["rules_broken"].get("accounting", 0)} |

{r["refused_with_an_avfr_error"]} inputs were refused by at least one reader with a one-line AvfrError (the rest read
as streams, resynced past their damage). Largest input {r["largest_input_bytes"]} bytes; {r["inputs_per_s"]:g} inputs/s
({r["wall_s"]:g} s).

Findings:
{findings}

Inputs by the mutation that made them. Each is one mutation of an entry of libFuzzer's corpus
(the seeds, and every input that reached new code) or of the input before it (up to 5 in a
row), so mutations stack; {UNMUTATED!r}: the seeds themselves and libFuzzer's own crossovers.

| mutation | inputs |
|---|---|
{rows}
"""


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, counts = zip(*r["by_mutation"].items())
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    ax.barh(names, counts, color="tab:blue")
    ax.set_xlabel("inputs")
    ax.set_title(f"{r['inputs']} fuzz inputs by mutation: {r['exceptions_found']} exceptions, slowest {r['slowest_input_ms']:.0f} ms")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def replay(paths: list[Path]) -> int:
    """Run saved inputs again, with their tracebacks (to debug a finding)."""
    scratch = Path(tempfile.mkdtemp(prefix="avfr-replay-")) / "input.avfr"
    for p in paths:
        print(f"{p}: {exercise(p.read_bytes(), scratch)} reader(s) refused it with an AvfrError")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="fuzz")
    parser.add_argument("--findings", type=Path, default=REPO / "out" / "fuzz-findings")
    parser.add_argument("--memory-every", type=int, default=1, help="trace allocations on every Nth input (default: all)")
    parser.add_argument("--make-seeds", action="store_true", help="re-encode benchmarks/fuzz_seeds/ (needs the model and FFmpeg)")
    parser.add_argument("--replay", type=Path, nargs="+", default=None, help="run saved inputs and show their tracebacks")
    args = parser.parse_args(argv)
    if args.make_seeds:
        make_seeds()
        return 0
    if args.replay:
        return replay(args.replay)
    from importlib import metadata

    from benchmarks.provenance import write_results

    seeds = {name: len(data) for name, data in load_seeds().items()}

    def done(campaign: Campaign) -> None:
        result = campaign.result(seeds, args.seed) | {"atheris": metadata.version("atheris")}
        print(write_results(args.out, args.name, result, markdown, plot), flush=True)

    fuzz(args.inputs, args.seed, args.findings, done, args.memory_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
