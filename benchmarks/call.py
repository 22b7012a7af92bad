"""Live calls over loopback: two real processes (`avfr send`, `avfr receive`), measured.

    python -m benchmarks.call [--clip FILE] [--seconds 10] [--out benchmarks/results] [--force]

Each condition is one call of ``--seconds`` of a real clip between two separate processes on
this machine, over real WebRTC (ICE, DTLS, SCTP, SRTP through aiortc), with the sender's
datagrams optionally dropped and delayed (``codec.call.wire``). Reported per condition:

* kbit/s per stream as sent (motion packets, header + keyframes, the Opus track's SRTP
  datagrams, and the overhead: UDP/IP, DTLS, SCTP and STUN beyond the avfr packets);
* frames due, rendered and held at the receiver, lost and late motion frames, the jitter
  buffer's largest occupancy (its bound is the capacity);
* glass-to-glass latency per rendered frame: the wall time its picture went on show at the
  receiver minus the wall time the sender took the frame from the source (both processes
  read the same clock), and the generator's render time alone;
* whether the received motion stream equals the sent one (bit-exact, frame by frame).

Conditions: clean with `avfr send`'s defaults (2 motion frames per message, 60 ms Opus
packets, 150 ms play-out delay); clean with 1, 3 and 4 frames per message (overhead against
late frames); clean with 20 ms Opus packets (aiortc's own); clean with a 100 ms play-out
delay; then the sender's datagrams impaired: 10% loss with 50 ms jitter, 10% and 30% random
loss, 10% burst loss (Gilbert-Elliott, bursts of 3 datagrams on average), 50 and 150 ms
jitter, and 30% loss with Opus FEC (24 kbit/s). Under loss and jitter it also reports whether
the call kept time (play-out fps, the longest stall), what the speech concealed, how soon the
picture came back after each loss run and when each keyframe arrived. Both processes share
the two CPU cores (the sender's analysis and the receiver's generator), so render rate and
latency here are the CPU case; ``speed.md`` has the generator's own cost.

The calls are run by the harness the call tests use (``receiver/loopback_call.py``); this module
chooses the conditions and writes the reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from codec.call.stats import quantiles
from codec.defaults import CALL_INTRA_PERIOD
from receiver.loopback_call import CallCondition, run_loopback_call

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CLIP = REPO.parent / "shared" / "data" / "talking-heads" / "dev" / "FuxiVirtualHuman__styletalk__src_feifeili_clip1.mp4"

CONDITIONS = (
    CallCondition("clean-bundle2"),  # `avfr send`'s defaults
    CallCondition("clean-bundle1", bundle=1),
    CallCondition("clean-bundle3", bundle=3),
    CallCondition("clean-bundle4", bundle=4),
    CallCondition("clean-opus20", audio_frame_ms=20),  # aiortc's packet duration
    CallCondition("clean-delay100", delay_ms=100.0),
    CallCondition("loss10-jitter50", netem="loss=0.1,jitter=0.05"),  # issue 14's latency target: <= 350 ms median
    CallCondition("loss10", netem="loss=0.1"),
    CallCondition("loss30", netem="loss=0.3"),
    CallCondition("burst10", netem="burst=0.1:3"),  # Gilbert-Elliott: 10% lost, in bursts of 3 on average
    CallCondition("jitter50", netem="jitter=0.05"),
    CallCondition("jitter150", netem="jitter=0.15"),
    CallCondition("loss30-fec24", netem="loss=0.3", send_args=("--audio-kbps", "24", "--audio-fec", "30")),  # speech with Opus FEC
)


def summarise(result: dict) -> dict:
    send, recv = result.get("sender") or {}, result.get("receiver") or {}
    frames = (recv.get("stats") or {}).get("frames", {})
    return {
        "condition": result["condition"]["name"],
        "exit_codes": result["exit_codes"],
        "frames_sent": send.get("frames"),
        "frames_held_behind_at_sender": send.get("frames_held_behind"),
        "kbps_sent": (send.get("stats") or {}).get("kbps"),
        "motion_messages": (send.get("stats") or {}).get("bytes", {}).get("motion_messages"),
        "frames_out": recv.get("frames_out"),
        "recorded_frames": recv.get("recorded_frames"),
        "frames": frames,
        "jitter": recv.get("jitter"),
        "max_held_frames": recv.get("max_held_frames"),
        "latency_ms": quantiles(result.get("latency_ms") or []),
        "render_ms": (recv.get("stats") or {}).get("render_ms"),
        "motion_compare": result.get("motion_compare"),
        "netem": (send.get("wire") or {}).get("netem"),
        "datagrams_sent": ((send.get("wire") or {}).get("sent") or {}).get("datagrams"),
        "playout": result.get("playout"),
        "expected_frames": recv.get("expected_frames"),
        "speech": recv.get("speech"),
        "recovery": result.get("recovery"),
        "keyframe_delays_s": result.get("keyframe_delays_s"),
    }


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Live calls over loopback",
        "",
        f"Clip `{meta['clip']}`, {meta['seconds']:g} s; two processes (`avfr send`, `avfr receive`), 1 torch thread each, "
        f"on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} logical CPUs); git {meta['git']['commit'][:12]}.",
        "",
        f"The machine was not idle: load average {meta.get('load_average', '?')} (1, 5, 15 min) at the end of the run. Other "
        "jobs (a model training run, fuzzing, tests) shared the two cores, so the sender fell behind real time and the "
        "generator rendered slower than on an idle machine: more late motion frames, and latency that is mostly render.",
        "",
        "| condition | motion | keyframes | audio | overhead | total kbit/s | frames out | decodable | rendered | held | lost | late | max buffered | latency median / p95 ms | render ms | motion bit-exact |",
        "|---|" + "---|" * 16,
    ]
    for r in rows:
        k, f, lat = r["kbps_sent"] or {}, r["frames"] or {}, r["latency_ms"] or {}
        mc = r["motion_compare"] or {}
        cells = [r["condition"]] + [f"{k.get(x, 0):.2f}" for x in ("motion", "keyframes", "audio", "overhead", "total")] + [
            str(r["frames_out"]), str(f.get("decodable")), str(f.get("rendered")), str(f.get("held")), str(f.get("lost")), str(f.get("late")),
            str(r["max_held_frames"]), f"{lat.get('median', float('nan')):.0f} / {lat.get('p95', float('nan')):.0f}",
            f"{(r['render_ms'] or {}).get('median', float('nan')):.0f}",
            f"{mc.get('identical')}/{mc.get('sent')}" + (" yes" if mc.get("bit_exact") else ""),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "- kbit/s as sent, over the stream's duration. audio = the Opus track's SRTP/SRTCP datagrams (payload + RTP "
        "headers); overhead = everything else on the wire: UDP/IPv4 headers of every datagram, DTLS and SCTP framing "
        "of the data channels, STUN consent checks.",
        "- frames out = frames played at the stream's rate (the recording holds one picture per frame); decodable = "
        "frames whose motion arrived in time and decoded (a loss breaks the compact coding's prediction until the next "
        f"self-contained frame: `avfr send` sends one every {CALL_INTRA_PERIOD} frames); rendered = distinct pictures the generator made "
        "(on these 2 CPU cores, shared with the sender, it renders a few frames a second); held = frames shown as the previous picture (lost, late, undecodable "
        "until the next self-contained frame, or the generator still busy).",
        "- latency = glass-to-glass per rendered frame: shown at the receiver minus taken from the source at the "
        "sender (same machine clock). It holds the sender's analysis, the network, the play-out delay "
        "(`--delay-ms`, default 150: the motion frames reach the receiver later than the speech they play against, "
        "after the sender's analysis and bundling; shorter makes more of them late) and the render.",
        "- audio: Opus in 60 ms packets by default (`--audio-frame-ms`; clean-opus20 is aiortc's 20 ms). The receiver "
        "decodes each speech packet as soon as it is next in order (codec/call/opus_rtp.py).",
        "- under loss: a lost speech packet is waited for at most 100 ms after the next one arrived, then concealed "
        "(libopus' PLC, or the next packet's FEC when the sender adds it) and everything held behind it goes out at "
        "once, so a loss leaves no delay behind (codec/call/opus_rtp.py; aiortc's own buffer kept a 3-packet backlog "
        "for the rest of the call after a loss, 0.4-0.65 s glass-to-glass at 10% loss).",
        "- motion bit-exact: received motion packets identical to the sent ones / motion packets sent.",
    ]
    return "\n".join(lines + loss_table(rows)) + "\n"


def loss_table(rows: list[dict]) -> list[str]:
    """The calls under loss and jitter: does the call keep time, the speech play, the picture come back."""
    lines = [
        "",
        "## Under loss and jitter",
        "",
        "Impairment on the sender's datagrams (`avfr send --netem`): random loss, burst loss (Gilbert-Elliott) and jitter "
        "(uniform delay, which reorders datagrams).",
        "",
        "| condition | datagrams dropped (mean run) | frames out / stream | fps all / after 2 s | longest stall s | latency median / p95 ms "
        "| speech concealed: packets (FEC) / ms | speech given up / late | picture back after a loss run: median / max s (runs) "
        "| first decoded frame | keyframe arrived after s |",
        "|---|" + "---|" * 10,
    ]
    for r in rows:
        netem = r["netem"] or {}
        if not (netem.get("loss") or netem.get("burst_loss") or netem.get("jitter_s")):
            continue
        runs = netem.get("loss_runs") or {}
        n_runs = sum(runs.values())
        mean_run = sum(int(k) * v for k, v in runs.items()) / n_runs if n_runs else 0.0
        sent = (r["datagrams_sent"] or 0) + netem.get("dropped", 0)
        play, lat, sp, rec = r["playout"] or {}, r["latency_ms"] or {}, r["speech"] or {}, r["recovery"] or {}
        back = rec.get("recovery_s") or {}
        cells = [
            r["condition"], f"{netem.get('dropped', 0)} of {sent} ({mean_run:.1f})", f"{r['frames_out']} / {r['expected_frames']}",
            f"{play.get('fps', float('nan')):.1f} / {play.get('fps_after_start') or float('nan'):.1f}", f"{play.get('longest_stall_s', float('nan')):.2f}",
            f"{lat.get('median', float('nan')):.0f} / {lat.get('p95', float('nan')):.0f}",
            f"{sp.get('concealed_packets')} ({sp.get('recovered_packets')}) / {sp.get('concealed_ms', 0):.0f}", f"{sp.get('given_up')} / {sp.get('late')}",
            f"{back.get('median', float('nan')):.2f} / {back.get('max', float('nan')):.2f} ({rec.get('runs')})", str(rec.get("first_decoded_frame")),
            ", ".join(f"{d:.2f}" for d in r["keyframe_delays_s"] or []),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [
        "",
        "- datagrams dropped: of those the sender sent after the call connected (mean run: datagrams lost in a row).",
        "- fps all / after 2 s: frames played per second of wall time over the call, and after its first 2 s. Above 25 "
        "at first: the sender's first frame (face tracking and the keyframe) takes over a second on these loaded cores, "
        "the speech captured meanwhile goes out in a burst, and the receiver's clock, which follows the speech, catches "
        "up; the frames it skips are held, one picture per frame (frames out). Longest stall: the longest wait between "
        "two frames going out.",
        "- speech concealed: lost speech packets filled in (of them from FEC) and their length; given up: packets "
        "waited for and then concealed; late: packets that came after their place was concealed (dropped).",
        "- picture back after a loss run: from the last lost (or late) motion frame of a run to the next frame that "
        f"decodes (the compact coding waits for its next self-contained frame, every {CALL_INTRA_PERIOD} frames in calls); the call's start "
        "(first decoded frame) waits for the first keyframe. Keyframe arrived after: send to arrival, per keyframe "
        "(SCTP re-sends a lost one: benchmarks/results/keyframe_resend.md).",
    ]


def plot(rows: list[dict], path: Path) -> Path:
    """Stacked wire kbit/s per condition: where a call's bits go."""
    from benchmarks.plots import plt, save_figure  # plots selects the headless backend first

    parts = ("motion", "keyframes", "audio", "overhead")
    colours = {"motion": "tab:red", "keyframes": "tab:orange", "audio": "tab:blue", "overhead": "tab:gray"}
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    names = [r["condition"] for r in rows]
    bottom = [0.0] * len(rows)
    for part in parts:
        values = [(r["kbps_sent"] or {}).get(part, 0.0) for r in rows]
        ax.bar(names, values, bottom=bottom, label=part, color=colours[part])
        bottom = [b + v for b, v in zip(bottom, values)]
    for i, r in enumerate(rows):
        f = r["frames"] or {}
        ax.text(i, bottom[i] + 1, f"{f.get('decodable')}/{f.get('due')} decodable", ha="center", fontsize=7)
    ax.set_title("a 10 s avfr call over loopback: kbit/s on the wire, as sent")
    return save_figure(fig, ax, path, "condition", "kbit/s")


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.provenance import git_state, machine

    p = argparse.ArgumentParser(prog="python -m benchmarks.call", description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    paths = [args.out / "call.json", args.out / "call.md", args.out / "call.png"]
    if any(x.exists() for x in paths) and not args.force:
        print(f"error: {paths[0]} exists: pass --force to overwrite", file=sys.stderr)
        return 1
    if not args.clip.is_file():
        print(f"error: no clip at {args.clip}: pass --clip FILE (a talking-head video with speech)", file=sys.stderr)
        return 1
    rows, raw = [], []
    with tempfile.TemporaryDirectory(prefix="avfr-call-") as tmp:
        for condition in CONDITIONS:
            print(f"call: {condition.name} ...", file=sys.stderr)
            result = run_loopback_call(args.clip, args.seconds, Path(tmp) / condition.name, condition)
            raw.append({k: v for k, v in result.items() if k not in ("logs",)})
            rows.append(summarise(result))
    meta = {"clip": args.clip.name, "seconds": args.seconds, "machine": machine(), "git": git_state(),
            "load_average": ", ".join(f"{x:.1f}" for x in os.getloadavg())}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    paths[0].write_text(json.dumps({**meta, "conditions": rows, "raw": raw}, indent=2, default=str) + "\n")
    paths[1].write_text(markdown(rows, meta) + "\n![kbit/s per stream](call.png)\n")
    plot(rows, paths[2])
    print(markdown(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
