"""What a long call costs once its keyframe is paid for (issue 16, item 3).

    python -m benchmarks.long_call [--manifest ../shared/data/talking-heads/MANIFEST.tsv] [--identity ID]
                                   [--min-seconds 60] [--window-s 10] [--preset NAME] [--out benchmarks/results]
                                   [--name long_call] [--smoke] [--force]

The dev clips last 3-15 s, so a per-clip rate is mostly the keyframe. Here one >= 60 s
stretch of one person (the identity with the longest dev footage in the manifest, or
``--identity``) is encoded as one call, keyframe included, and decoded; the result gives the
kbit/s of the whole stretch, of the stretch after its first window (the steady state), and
per ``--window-s`` window: video (keyframes + motion + their framing), speech (Opus + its
framing) and the total, with LPIPS and PSNR per window against the sender's crops.

When no single clip of the identity is long enough, its clips are concatenated (longest
first) into one video, scaled and padded to the first clip's size at 25 fps, silence where a
clip has no sound; if even all of them fall short, they are repeated. The result and its
table say which of these was done. A cut between clips is a scene cut to the sender, which
then sends a new keyframe, as it would in a real call where the picture changed.

Run time on 2 shared cores: ~0.1 s per frame (sender, receiver, metrics): ~3 min per minute
of call.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.provenance import refuse_overwrite, run_cli, write_results
from benchmarks.rd import DEFAULT_DATA, REPO, RDConfig, _decode_stream, sampled
from codec.bitstream.container import AvfrReader
from codec.bitstream.info import audio_framing
from codec.errors import AvfrError, InputError

DEFAULT_MANIFEST = DEFAULT_DATA.parent / "MANIFEST.tsv"


@dataclass
class ManifestClip:
    path: Path
    identity: str
    seconds: float
    has_audio: bool


@dataclass
class Stretch:
    """The clips that make one long call, and how they were put together."""

    identity: str
    clips: list[ManifestClip]
    how: str  # "one clip", "concatenated", "concatenated and repeated"

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.clips)


def read_manifest(path: Path, split: str = "dev") -> list[ManifestClip]:
    """The manifest's clips of one split, with the identity its notes give (``id=...;``)."""
    if not path.is_file():
        raise InputError(f"no manifest at {path}: pass --manifest (the talking-heads MANIFEST.tsv)")
    out = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if not row["file"].startswith(f"{split}/"):
                continue
            identity = next((p.split("=", 1)[1] for p in row.get("notes", "").split(";") if p.strip().startswith("id=")), row["file"])
            out.append(ManifestClip(path.parent / row["file"], identity.strip(), float(row["duration_s"]), row["has_audio"] == "yes"))
    return out


def plan_stretch(clips: list[ManifestClip], min_seconds: float, identity: str | None = None) -> Stretch:
    """One identity's clips, longest first, until ``min_seconds``; repeated if they fall short."""
    by_id: dict[str, list[ManifestClip]] = {}
    for c in clips:
        by_id.setdefault(c.identity, []).append(c)
    if identity is None:
        identity = max(by_id, key=lambda i: sum(c.seconds for c in by_id[i]))
    if identity not in by_id:
        raise InputError(f"no clips of identity {identity!r} in the manifest: choose one of {', '.join(sorted(by_id))}")
    own = sorted(by_id[identity], key=lambda c: -c.seconds)
    if own[0].seconds >= min_seconds:
        return Stretch(identity, [own[0]], "one clip")
    chosen: list[ManifestClip] = []
    while sum(c.seconds for c in chosen) < min_seconds:
        for c in own:
            chosen.append(c)
            if sum(x.seconds for x in chosen) >= min_seconds:
                break
    return Stretch(identity, chosen, "concatenated" if len(chosen) <= len(own) else "concatenated and repeated")


def concatenate(stretch: Stretch, out: Path, fps: float = 25.0) -> Path:
    """One video of the stretch's clips (first clip's size, ``fps``, 16 kHz mono; silence for a clip without sound)."""
    from codec.media import video_io
    from codec.media.keyframe import ffmpeg_exe

    if len(stretch.clips) == 1:
        return stretch.clips[0].path
    w, h = video_io.probe(stretch.clips[0].path).width, video_io.probe(stretch.clips[0].path).height
    cmd, parts = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"], []
    for i, c in enumerate(stretch.clips):
        cmd += ["-i", str(c.path)]
        if not c.has_audio:
            cmd += ["-f", "lavfi", "-t", f"{c.seconds:.3f}", "-i", "anullsrc=r=16000:cl=mono"]
    index = 0
    for i, c in enumerate(stretch.clips):
        v, a = index, index if c.has_audio else index + 1
        index += 1 if c.has_audio else 2
        parts.append(f"[{v}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,fps={fps:g},setsar=1[v{i}];"
                     f"[{a}:a]aresample=16000,aformat=channel_layouts=mono,atrim=0:{c.seconds:.3f}[a{i}]")  # fmt: skip
    streams = "".join(f"[v{i}][a{i}]" for i in range(len(stretch.clips)))
    graph = ";".join(parts) + f";{streams}concat=n={len(stretch.clips)}:v=1:a=1[v][a]"
    cmd += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-crf", "12", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", str(out)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AvfrError(f"ffmpeg could not concatenate the clips: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    return out


def window_bits(stream: Path, fps: float, window_s: float) -> list[dict[str, float]]:
    """Bytes per window of the call: video (keyframes, motion, their framing, the header's video
    part) and speech (Opus packets and their framing), placed by frame index and audio time."""
    windows: dict[int, dict[str, float]] = {}
    audio_rate, audio_pos, frame_size = 16000, 0, 320

    def add(t: float, part: str, n: int) -> None:
        w = windows.setdefault(int(t // window_s), {"video": 0, "speech": 0})
        w[part] += n

    for record in AvfrReader(stream).records():
        packet, size, kind = record.packet, record.size, record.kind
        if kind == "header":
            audio_rate = packet.header.audio_sample_rate or audio_rate
            frame_size = audio_rate // 50
            speech = audio_framing(record)
            add(0.0, "speech", speech)
            add(0.0, "video", size - speech)
        elif kind in ("keyframe", "motion"):
            add(getattr(packet, kind).frame_index / fps, "video", size)
        elif kind == "audio":
            audio_pos = packet.audio.pts_samples or audio_pos
            add(audio_pos / audio_rate, "speech", size)
            audio_pos += packet.audio.sample_count or frame_size
        else:
            add(max(len(windows) - 1, 0) * window_s, "video", size)
    return [windows.get(i, {"video": 0, "speech": 0}) for i in range(max(windows) + 1)]


@dataclass
class LongCallConfig:
    manifest: Path = DEFAULT_MANIFEST
    identity: str | None = None
    min_seconds: float = 60.0
    window_s: float = 10.0
    preset: str | None = None  # None: the encoder's defaults
    metric_stride: int = 5
    max_frames: int | None = None  # a smoke run's cut
    out: Path = REPO / "benchmarks" / "results"
    name: str = "long_call"
    force: bool = False
    model: Path | None = None

    @classmethod
    def smoke(cls) -> "LongCallConfig":
        return cls(name="long_call-smoke", min_seconds=8.0, window_s=2.0, max_frames=150, identity="mead_W011")


def run(cfg: LongCallConfig, argv: Sequence[str] = ()) -> dict:
    from benchmarks.metrics.lpips import LPIPSMetric
    from benchmarks.metrics.psnr import psnr_frames
    from codec.evaluation import IDENTICAL_PSNR_DB
    from sender.encoder import encode_file
    from sender.presets import EncodeSettings, preset

    refuse_overwrite(cfg.out, cfg.name, cfg.force)
    stretch = plan_stretch(read_manifest(cfg.manifest), cfg.min_seconds, cfg.identity)
    rd_cfg = RDConfig(model=cfg.model, max_frames=cfg.max_frames or 10**9)
    settings = preset(cfg.preset).settings if cfg.preset else EncodeSettings()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="avfr-long-") as tmp:
        video = concatenate(stretch, Path(tmp) / "stretch.mp4", rd_cfg.fps)
        crops: list[np.ndarray] = []
        options = settings.options(model_path=cfg.model, fps=rd_cfg.fps, max_frames=cfg.max_frames)
        enc = encode_file(video, Path(tmp) / "call.avfr", options, progress=False, on_crop=crops.append)
        reference = np.stack(crops)
        decoded = _decode_stream(Path(tmp) / "call.avfr", rd_cfg, len(reference), enc.seconds, []).decoded
        bits = window_bits(Path(tmp) / "call.avfr", rd_cfg.fps, cfg.window_s)
    lpips, per = LPIPSMetric(), int(round(cfg.window_s * rd_cfg.fps))
    windows = []
    for i, w in enumerate(bits):
        ref, dec = reference[i * per : (i + 1) * per], decoded[i * per : (i + 1) * per]
        if not len(ref):
            continue
        seconds = len(ref) / rd_cfg.fps
        s = sampled(cfg.metric_stride)
        windows.append({"start_s": i * cfg.window_s, "seconds": seconds, "video_kbps": 8 * w["video"] / seconds / 1000,
                        "speech_kbps": 8 * w["speech"] / seconds / 1000, "total_kbps": 8 * (w["video"] + w["speech"]) / seconds / 1000,
                        "lpips": float(np.mean(lpips(ref[s], dec[s]))) if len(ref[s]) else None,
                        "psnr": float(np.mean(np.minimum(psnr_frames(ref, dec), IDENTICAL_PSNR_DB)))})  # fmt: skip
    result = {
        "command": [sys.executable, "-m", "benchmarks.long_call", *argv], "config": {k: str(v) for k, v in asdict(cfg).items()},
        "identity": stretch.identity, "how": stretch.how, "clips": [c.path.name for c in stretch.clips],
        "frames": len(reference), "seconds": len(reference) / rd_cfg.fps, "settings": settings.label(),
        "keyframes": [list(k) for k in enc.keyframes], "windows": windows,
        "whole": summary(windows), "after_first_window": summary(windows[1:]), "wall_s": time.perf_counter() - started,
    }  # fmt: skip
    write_results(cfg.out, cfg.name, result, markdown, plot, image_alt="kbit/s and LPIPS over the call")
    return result


def summary(windows: list[dict]) -> dict[str, float | None]:
    """Time-weighted rates and qualities of some windows."""
    if not windows:
        return {}
    t = np.array([w["seconds"] for w in windows])
    out: dict[str, float | None] = {k: float(np.average([w[k] for w in windows], weights=t)) for k in ("video_kbps", "speech_kbps", "total_kbps", "psnr")}
    scored = [w for w in windows if w["lpips"] is not None]
    out["lpips"] = float(np.average([w["lpips"] for w in scored], weights=[w["seconds"] for w in scored])) if scored else None
    out["seconds"] = float(t.sum())
    return out


def markdown(result: dict) -> str:
    w, s = result["whole"], result["after_first_window"]
    how = {"one clip": "one clip", "concatenated": "clips of one identity concatenated (no single clip was long enough)",
           "concatenated and repeated": "clips of one identity concatenated and repeated (all of them together were too short)"}[result["how"]]  # fmt: skip
    f = lambda v, d: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
    lines = [
        "# A long call: the rate once the keyframe is paid for", "",
        f"`python -m benchmarks.long_call`: identity `{result['identity']}`, {result['seconds']:.1f} s ({result['frames']} frames at 25 fps), "
        f"{how}: {', '.join(result['clips'])}. Encoder settings: {result['settings']}; {len(result['keyframes'])} keyframe(s) "
        f"(at frames {', '.join(str(k[0]) for k in result['keyframes'])}).", "",
        "| stretch | seconds | video kbit/s | speech kbit/s | total kbit/s | LPIPS | PSNR |", "|---|---|---|---|---|---|---|",
        f"| whole call, keyframe included | {w['seconds']:.0f} | {w['video_kbps']:.2f} | {w['speech_kbps']:.2f} | {w['total_kbps']:.2f} | {f(w['lpips'], 4)} | {w['psnr']:.2f} |",
    ]  # fmt: skip
    if s:
        lines.append(f"| after the first window (steady state) | {s['seconds']:.0f} | {s['video_kbps']:.2f} | {s['speech_kbps']:.2f} | "
                     f"{s['total_kbps']:.2f} | {f(s['lpips'], 4)} | {s['psnr']:.2f} |")  # fmt: skip
    lines += ["", "| window from (s) | video kbit/s | speech kbit/s | total | LPIPS | PSNR |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {x['start_s']:.0f} | {x['video_kbps']:.2f} | {x['speech_kbps']:.2f} | {x['total_kbps']:.2f} | {f(x['lpips'], 4)} | {x['psnr']:.2f} |"
        for x in result["windows"]
    ]
    lines += ["", "Video = keyframes + motion + their records' framing (as `avfr info`); speech = Opus payload + its framing; "
              "the file's bytes exactly. LPIPS-Alex on 1 in 5 frames, PSNR on all, against the sender's 256 px crops."]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    from benchmarks.plots import plt, save_figure

    ws = result["windows"]
    t = [w["start_s"] + w["seconds"] / 2 for w in ws]
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    ax.step(t, [w["video_kbps"] for w in ws], where="mid", label="video kbit/s")
    ax.step(t, [w["total_kbps"] for w in ws], where="mid", label="total kbit/s (with speech)")
    twin = ax.twinx()
    twin.plot(t, [w["lpips"] for w in ws], "o-", color="tab:red", markersize=3, label="LPIPS")
    twin.set_ylabel("LPIPS (lower is better)", color="tab:red")
    ax.set_title(f"{result['identity']}: {result['seconds']:.0f} s call ({result['how']})", fontsize=9)
    save_figure(fig, ax, path, "seconds into the call", "kbit/s")


def build_parser() -> argparse.ArgumentParser:
    d = LongCallConfig()
    p = argparse.ArgumentParser(prog="python -m benchmarks.long_call", description="The rate and quality of a >= 60 s call.")
    p.add_argument("--manifest", type=Path, default=d.manifest)
    p.add_argument("--identity", default=None, help="whose clips (default: the identity with the longest dev footage)")
    p.add_argument("--min-seconds", type=float, default=d.min_seconds, help=f"the call's length at least (default {d.min_seconds:g})")
    p.add_argument("--window-s", type=float, default=d.window_s, help=f"seconds per window (default {d.window_s:g})")
    p.add_argument("--preset", default=None, help="an encoder preset (sender/presets.py; default: the defaults)")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--out", type=Path, default=d.out)
    p.add_argument("--name", default=None, help=f"results are NAME.json/.md/.png (default {d.name})")
    p.add_argument("--smoke", action="store_true", help="two ~4 s clips of one identity concatenated, the first 150 frames (across the cut), 2 s windows")
    p.add_argument("--force", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    cfg = LongCallConfig.smoke() if a.smoke else LongCallConfig(identity=a.identity, min_seconds=a.min_seconds, window_s=a.window_s)
    cfg.manifest, cfg.preset, cfg.model, cfg.out, cfg.force = a.manifest, a.preset, a.model, a.out, a.force
    cfg.identity = a.identity or cfg.identity
    cfg.name = a.name or cfg.name
    return run_cli(lambda: run(cfg, argv), markdown)


if __name__ == "__main__":
    sys.exit(main())
