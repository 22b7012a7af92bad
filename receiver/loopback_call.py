"""Calls between two real `avfr` processes over loopback WebRTC, as a user makes them.

The harness the call tests (tests/receiver/test_call.py, test_web.py) and the call benchmark
(benchmarks/call.py, which adds the reports) share: start the listening side, read the call code
it prints, start the other side with it, wait for both, and gather their summaries, timelines
and logs; then what the benchmark and the tests look at: whether the received motion stream is
the sent one, the glass-to-glass latency, the play-out rate, how soon the picture came back after
each loss run, and when each keyframe arrived.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from codec.call.stats import quantiles
from receiver.live import PlayoutConfig

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CallCondition:
    name: str
    netem: str | None = None  # "loss=0.1,jitter=0.05"
    bundle: int = 2  # `avfr send`'s default
    audio_frame_ms: int | None = None  # None: `avfr send`'s default
    delay_ms: float = 1000 * PlayoutConfig().delay_s  # `avfr receive`'s default
    signaling: str = "tcp-socket"  # or "http" (the receiver's web server takes the offer)
    send_args: tuple[str, ...] = ()  # more `avfr send` flags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CODE_LINE = re.compile(r"call code (\S+);")
PAGE_LINE = re.compile(r"the call plays at (\S+)")


def run_loopback_call(
    clip: Path,
    seconds: float,
    workdir: Path,
    condition: CallCondition = CallCondition("clean"),
    web_port: int | None = None,
    timeout_s: float = 180.0,
    on_started=None,  # noqa: ANN001 (called with the page's address, code included, once the call is under way)
    before_peer=None,  # noqa: ANN001 (called with the listener's port and code before the other side starts)
) -> dict:
    """One call between two `avfr` processes, as a user makes it: the listening side starts
    first and prints the call code, the other side is started with it. Returns both ends'
    summaries and the outputs."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    signaling = ["--signaling", condition.signaling, "--signaling-port", str(port)]
    env = dict(os.environ, AVFR_THREADS="1", PYTHONUNBUFFERED="1")
    out = {k: workdir / f"{k}" for k in ("recording.mp4", "received.avfr", "sent.avfr")}
    files = {k: workdir / f"{k}.json" for k in ("receiver", "sender", "receiver-timeline", "sender-timeline")}
    receive = [sys.executable, "-m", "avfr", "receive", *signaling, "--record-to", str(out["recording.mp4"]),
               "--save-stream", str(out["received.avfr"]), "--stats-json", str(files["receiver"]),
               "--timeline", str(files["receiver-timeline"]), "--delay-ms", str(condition.delay_ms), "--force", "-q"]  # fmt: skip
    if web_port is not None and condition.signaling != "http":
        receive += ["--web", str(web_port)]
    send = [sys.executable, "-m", "avfr", "send", "--play-from", str(clip), "--max-seconds", str(seconds), *signaling,
            "--save-stream", str(out["sent.avfr"]), "--stats-json", str(files["sender"]), "--timeline",
            str(files["sender-timeline"]), "--bundle", str(condition.bundle), "--force", "-q"]  # fmt: skip
    if condition.audio_frame_ms is not None:
        send += ["--audio-frame-ms", str(condition.audio_frame_ms)]
    if condition.netem:
        send += ["--netem", condition.netem]
    send += list(condition.send_args)
    commands = {"sender": send, "receiver": receive}
    first = "receiver" if condition.signaling == "http" else "sender"  # the side that listens
    second = "sender" if first == "receiver" else "receiver"
    logs = {name: workdir / f"{name}.log" for name in commands}
    started = time.monotonic()
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs[first] = _start(commands[first], env, logs[first])
        code = wait_for_line(logs[first], CODE_LINE, procs[first], timeout_s).group(1)
        if before_peer is not None:
            before_peer(port, code)
        procs[second] = _start(commands[second] + ["--code", code], env, logs[second])
        if on_started is not None:
            on_started(wait_for_line(logs["receiver"], PAGE_LINE, procs["receiver"], timeout_s).group(1) if web_port is not None else None)
        codes = {name: procs[name].wait(timeout=timeout_s) for name in ("sender", "receiver")}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result = {"condition": asdict(condition), "seconds": seconds, "clip": clip.name, "exit_codes": codes,
              "wall_s": time.monotonic() - started, "paths": {k: str(v) for k, v in out.items()}}  # fmt: skip
    for name, path in files.items():
        result[name] = json.loads(path.read_text()) if path.exists() else None
    result["logs"] = {name: path.read_text()[-20000:] for name, path in logs.items()}
    if result["receiver-timeline"] and result["sender-timeline"]:
        result["latency_ms"] = latency_ms(result["sender-timeline"], result["receiver-timeline"])
        result["keyframe_delays_s"] = keyframe_delays_s(result["sender-timeline"], result["receiver-timeline"])
        result["playout"] = playout_rate(result["receiver-timeline"].get("played_wall", []))
        result["recovery"] = recovery(result["receiver-timeline"].get("frame_states", ""), result["receiver-timeline"]["fps"],
                                      (result["receiver"] or {}).get("expected_frames"))  # fmt: skip
    if out["sent.avfr"].exists() and out["received.avfr"].exists():
        result["motion_compare"] = compare_motion(out["sent.avfr"], out["received.avfr"])
    return result


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)


def wait_for_line(log: Path, pattern: re.Pattern, proc: subprocess.Popen, timeout_s: float) -> re.Match:
    """The first match of ``pattern`` in a process's log, as soon as it is written."""
    deadline = time.monotonic() + timeout_s
    while True:
        match = pattern.search(log.read_text()) if log.exists() else None
        if match is not None:
            return match
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{pattern.pattern!r} never appeared in {log.name} (exit {proc.poll()}):\n{tail}")
        time.sleep(0.1)


def recovery(frame_states: str, fps: float, frames: int | None = None) -> dict:
    """How the picture came back after each loss run: for every run of frames not decoded that
    holds a lost (or late) one and ends in a decoded frame, the time from the run's last lost
    frame to that decoded one (frames whose motion arrived but could not be decoded: after a
    loss, until the next self-contained frame or keyframe). The call's start, before the first
    decoded frame, is reported apart: it waits for the first keyframe. ``frames``: the stream's
    length (frames played past its end, before the end-of-stream message came, are left out)."""
    states = frame_states[:frames]
    first = states.find("d")
    if first < 0:
        return {"first_decoded_frame": None, "runs": 0}
    seconds = []
    for run in re.findall(r"[lu]+(?=d)", states[first:]):
        if "l" in run:
            seconds.append((len(run) - run.rindex("l") - 1) / fps)
    out = {"first_decoded_frame": first, "runs": len(seconds), "lost_frames": states[first:].count("l")}
    return out | ({"recovery_s": quantiles(seconds)} if seconds else {})


def playout_rate(played_wall: list[float], settle_s: float = 2.0) -> dict:
    """The rate frames went out at: over the whole call, and after its first ``settle_s``
    (the start catches up with a sender that was behind real time on its first frames, see
    the notes); the longest wait between two frames is a stall."""
    if len(played_wall) < 2:
        return {}
    t = played_wall
    later = [x for x in t if x >= t[0] + settle_s]
    gaps = [b - a for a, b in zip(t, t[1:])]
    return {"fps": (len(t) - 1) / (t[-1] - t[0]), "fps_after_start": (len(later) - 1) / (later[-1] - later[0]) if len(later) > 1 else None,
            "longest_stall_s": max(gaps)}  # fmt: skip


def keyframe_delays_s(sent: dict, received: dict) -> list[float]:
    arrived = received.get("keyframes_arrived", {})
    return [arrived[k] - t for k, t in sent.get("keyframes_sent", {}).items() if k in arrived]


def latency_ms(sent: dict, received: dict) -> list[float]:
    capture = sent["capture_wall"]
    return [1000.0 * (t - capture[int(i)]) for i, t in received["shown_wall"].items() if int(i) < len(capture)]


def motion_packets(path: Path) -> dict[int, bytes]:
    from codec.bitstream.container import AvfrReader
    from codec.errors import StreamError

    out: dict[int, bytes] = {}
    try:
        for packet in AvfrReader(path):
            if packet.HasField("motion"):
                out[packet.motion.frame_index] = packet.motion.SerializeToString()
    except StreamError:
        pass
    return out


def compare_motion(sent: Path, received: Path) -> dict:
    a, b = motion_packets(sent), motion_packets(received)
    same = [i for i in a if b.get(i) == a[i]]
    return {"sent": len(a), "received": len(b), "identical": len(same), "bit_exact": len(a) > 0 and a == b,
            "missing": sorted(set(a) - set(b))[:50], "differing": sorted(i for i in b if i in a and a[i] != b[i])[:50]}  # fmt: skip
