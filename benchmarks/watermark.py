"""The picture mark, measured: is it found, where it must not be, what it costs a frame, and
what PSNR it takes. The measurement behind ``codec/watermark.py``'s choice.

    python -m benchmarks.watermark [--clips DIR] [--frames 50] [--out benchmarks/results] [--force] [--smoke]

Each dev clip is encoded by avfr (default settings) and its frames rendered by the receiver
without any mark (``receiver.decoder.iter_rendered``: the pictures avfr decode marks). Each
candidate mark is put on those pictures, and measured:

* cost: ms per frame to mark a picture (and, apart, to draw the visible label);
* PSNR of the marked picture against the unmarked one;
* detection in the video as ``avfr decode`` writes it (H.264 at the decode's settings,
  ``codec.media.video_io.WriterConfig``), after re-encoding that video once and twice at the
  same settings, and once at CRF 28 (a harsher coding than the issue asks for: the margin);
* false positives on videos that carry no mark: the raw dev clip, the sender's face crops
  and the unmarked render (both coded as the decode codes).

Candidates: ``avfr-dct`` (``codec/watermark.py``: a video is marked when its score exceeds
``THRESHOLD``; single frames are scored too), and invisible-watermark 0.2.0 from PyPI, its
``dwtDct`` and ``dwtDctSvd`` methods, when it imports. It does not install beside avfr's
dependencies (pip brings numpy 2 and opencv-python over MediaPipe's numpy<2 and
opencv-contrib), so it is measured from a side folder: ``pip install --no-deps --target DIR
invisible-watermark PyWavelets`` and ``PYTHONPATH=DIR``. It carries a 32-bit payload and
refuses pictures under 256x256, so smaller renders are upscaled for it; a video is marked
when at least 28 of its 32 bits, each a majority over the video's frames, are right (an
unmarked video's bits are coin flips: 28 or more by chance in 1 in 100,000).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from benchmarks.provenance import refuse_overwrite, write_results
from codec.errors import AvfrError
from codec.evaluation import psnr
from codec.marking import PictureMarking
from codec.media import video_io
from codec.model_input import resize_rgb
from codec.watermark import THRESHOLD, MarkReader, embed_mark, luma, mark_score

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CLIPS = REPO.parent / "shared" / "data" / "talking-heads" / "dev"
STAGES = ("decoded", "reencoded", "reencoded_twice", "crf28")  # the video as written, then re-encoded
PAYLOAD = b"avfr"  # invisible-watermark's 32 bits
PAYLOAD_MATCH = 28  # of 32 bits, for a video to count as marked
IWM_MIN_SIZE = 256  # invisible-watermark refuses smaller pictures


@dataclass
class Candidate:
    """One mark: how to put it on a picture, and how to read a video's frames for it."""

    name: str
    embed: Callable[[np.ndarray], np.ndarray]
    score: Callable[[list[np.ndarray]], float]  # the video's score
    found: Callable[[float], bool]
    frame_score: Callable[[np.ndarray], float] | None = None
    min_size: int = 1  # pictures are upscaled to this for the mark


@dataclass
class ClipRow:
    """One candidate on one clip."""

    clip: str
    candidate: str
    frames: int
    size: int
    embed_ms: float  # mean per frame
    detect_ms: float  # reading the decoded video, per frame
    psnr_db: float
    scores: dict[str, float] = field(default_factory=dict)  # stage -> the video's score
    unmarked: dict[str, float] = field(default_factory=dict)  # negative -> its score
    frame_found: dict[str, float] = field(default_factory=dict)  # share of single frames found: marked (re-encoded) / unmarked


def avfr_dct() -> Candidate:
    def score(frames: list[np.ndarray]) -> float:
        reader = MarkReader()
        for f in frames:
            reader.add(f)
        return reader.score()

    return Candidate("avfr-dct", embed_mark, score, lambda s: s > THRESHOLD, frame_score=lambda f: mark_score(luma(f)))


def invisible_watermark(method: str) -> Candidate | None:
    """invisible-watermark's ``method``, or None when the package does not import."""
    try:
        from imwatermark import WatermarkDecoder, WatermarkEncoder
    except ImportError:
        return None
    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", PAYLOAD)
    decoder = WatermarkDecoder("bits", 8 * len(PAYLOAD))
    want = np.unpackbits(np.frombuffer(PAYLOAD, np.uint8)).astype(bool)

    def embed(rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1]), method)[:, :, ::-1])

    def score(frames: list[np.ndarray]) -> float:
        bits = np.array([decoder.decode(np.ascontiguousarray(f[:, :, ::-1]), method) for f in frames], bool)
        return float(((bits.mean(axis=0) > 0.5) == want).sum())

    return Candidate(f"invisible-watermark {method}", embed, score, lambda s: s >= PAYLOAD_MATCH, min_size=IWM_MIN_SIZE)


def candidates() -> tuple[list[Candidate], list[str]]:
    """The candidates that run here, and a note on invisible-watermark: where it came from, or why it did not run."""
    found = [avfr_dct()] + [c for c in (invisible_watermark(m) for m in ("dwtDct", "dwtDctSvd")) if c is not None]
    if len(found) == 1:
        return found, ["invisible-watermark: not measured (imwatermark does not import; see the module's doc)"]
    import imwatermark

    where = Path(imwatermark.__file__).parent.parent
    return found, [f"invisible-watermark: imported from {where}, installed there with `pip install --no-deps --target`: with its "
                   "dependencies pip would replace numpy 1.26 by 2.x and add opencv-python over mediapipe's opencv-contrib, "
                   "so it cannot be one of avfr's; it refuses pictures under 256x256 (the 128-px model's)"]  # fmt: skip


def coded(frames: list[np.ndarray], path: Path, crf: float | None = None) -> list[np.ndarray]:
    """The frames after H.264 coding at the decode's settings (or at ``crf``), as read back."""
    config = video_io.WriterConfig() if crf is None else video_io.WriterConfig(crf=crf)
    video_io.write_video(path, frames, fps=25.0, config=config)
    return video_io.read_frames(path)


def render_clip(clip: Path, frames: int, work: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The receiver's unmarked pictures of the clip and the sender's face crops (at the stream's size)."""
    from receiver.decoder import DecodeOptions, DecodeReport, iter_rendered, open_stream
    from sender.encoder import EncodeOptions, encode_file

    crops: list[np.ndarray] = []
    stream = work / f"{clip.stem}.avfr"
    encode_file(clip, stream, EncodeOptions(max_frames=frames), progress=False, on_crop=crops.append)
    session = open_stream(stream, DecodeOptions(device="cpu"))
    rendered = list(iter_rendered(session.receiver, stream, session.mel, DecodeReport(output=stream), 8, session.damage))
    size = session.header.width
    return rendered, [resize_rgb(c, size) for c in crops]


def timed_map(fn: Callable[[np.ndarray], np.ndarray], frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """``fn`` over the frames, and its mean ms per frame."""
    started = time.perf_counter()
    out = [fn(f) for f in frames]
    return out, 1000 * (time.perf_counter() - started) / max(len(frames), 1)


def measure(candidate: Candidate, clip: Path, rendered: list[np.ndarray], crops: list[np.ndarray], work: Path) -> ClipRow:
    size = max(rendered[0].shape[0], candidate.min_size)
    plain = [resize_rgb(f, size) for f in rendered]
    marked, embed_ms = timed_map(candidate.embed, plain)
    videos = {"decoded": coded(marked, work / "decoded.mp4")}
    videos["reencoded"] = coded(videos["decoded"], work / "reencoded.mp4")
    videos["reencoded_twice"] = coded(videos["reencoded"], work / "reencoded_twice.mp4")
    videos["crf28"] = coded(videos["decoded"], work / "crf28.mp4", crf=28)
    started = time.perf_counter()
    scores = {stage: candidate.score(videos[stage]) for stage in STAGES}
    detect_ms = 1000 * (time.perf_counter() - started) / (len(STAGES) * len(marked))
    negatives = {"render": coded(plain, work / "unmarked.mp4"), "crops": coded([resize_rgb(c, size) for c in crops], work / "crops.mp4")}
    unmarked = {name: candidate.score(frames) for name, frames in negatives.items()}
    if candidate.name == "avfr-dct":
        unmarked["raw_clip"] = candidate.score(video_io.read_frames(clip, max_frames=len(rendered)))
    row = ClipRow(clip.name, candidate.name, len(marked), size, embed_ms, detect_ms,
                  float(np.mean([psnr(m, p) for m, p in zip(marked, plain)])), scores, unmarked)  # fmt: skip
    if candidate.frame_score is not None:
        single = lambda frames: float(np.mean([candidate.found(candidate.frame_score(f)) for f in frames]))  # noqa: E731
        row.frame_found = {"reencoded": single(videos["reencoded"]), "unmarked_render": single(negatives["render"])}
    return row


def label_ms(frames: list[np.ndarray]) -> float:
    """The visible label's own cost per frame (drawn, without the mark)."""
    from codec.marking import LABELS, draw_label

    return timed_map(lambda f: draw_label(f, LABELS[True]), frames)[1]


def summarise(rows: list[ClipRow], candidate: Candidate) -> dict:
    own, found = [r for r in rows if r.candidate == candidate.name], candidate.found
    out = {
        "clips": len(own),
        "size": sorted({r.size for r in own}),
        "embed_ms": float(np.mean([r.embed_ms for r in own])),
        "detect_ms": float(np.mean([r.detect_ms for r in own])),
        "psnr_db": float(np.mean([r.psnr_db for r in own])),
        "psnr_db_min": float(min(r.psnr_db for r in own)),
        "true_positive_rate": {s: float(np.mean([found(r.scores[s]) for r in own])) for s in STAGES},
        "lowest_marked_score": {s: float(min(r.scores[s] for r in own)) for s in STAGES},
    }
    negatives = sorted({k for r in own for k in r.unmarked})
    out["false_positive_rate"] = {n: float(np.mean([found(r.unmarked[n]) for r in own])) for n in negatives}
    out["highest_unmarked_score"] = {n: float(max(r.unmarked[n] for r in own)) for n in negatives}
    if own[0].frame_found:
        out["single_frame_found"] = {k: float(np.mean([r.frame_found[k] for r in own])) for k in own[0].frame_found}
    return out


def run(clips: Sequence[Path], frames: int) -> dict:
    chosen, notes = candidates()
    rows: list[ClipRow] = []
    label_costs = []
    for i, clip in enumerate(clips):
        print(f"watermark: {i + 1}/{len(clips)} {clip.name}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            rendered, crops = render_clip(clip, frames, Path(tmp))
            label_costs.append(label_ms(rendered))
            for candidate in chosen:
                rows.append(measure(candidate, clip, rendered, crops, Path(tmp)))
    summary = {c.name: summarise(rows, c) for c in chosen}
    marking = PictureMarking(chosen_photo=True, label=True)
    return {"frames_per_clip": frames, "threshold": THRESHOLD, "payload_match": PAYLOAD_MATCH, "notes": notes,
            "label_ms": float(np.mean(label_costs)), "metadata_description": marking.metadata()["description"],
            "summary": summary, "rows": [asdict(r) for r in rows]}  # fmt: skip


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def markdown(result: dict) -> str:
    lines = [
        "# The picture mark: detection, cost and PSNR",
        "",
        f"{len({r['clip'] for r in result['rows']})} dev clips, {result['frames_per_clip']} frames each, rendered by the "
        "receiver and marked by each candidate; the marked video as `avfr decode` writes it (H.264, CRF 18, preset medium), "
        "then re-encoded at the same settings once and twice, and once at CRF 28. Unmarked: the raw clip, the sender's "
        "face crops and the unmarked render (coded as the decode codes). `python -m benchmarks.watermark`.",
        "",
        "| mark | size px | ms/frame to mark | ms/frame to read | PSNR dB (min) | found: decoded | re-encoded | twice | CRF 28 | "
        "false positives: raw clips | crops | unmarked renders |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in result["summary"].items():
        tpr, fpr = s["true_positive_rate"], s["false_positive_rate"]
        raw = f"{_pct(fpr['raw_clip'])} of {s['clips']}" if "raw_clip" in fpr else "n/m"
        lines.append(
            f"| {name} | {'/'.join(map(str, s['size']))} | {s['embed_ms']:.2f} | {s['detect_ms']:.2f} | {s['psnr_db']:.1f} ({s['psnr_db_min']:.1f}) | "
            f"{_pct(tpr['decoded'])} | {_pct(tpr['reencoded'])} | {_pct(tpr['reencoded_twice'])} | {_pct(tpr['crf28'])} | "
            f"{raw} | {_pct(fpr['crops'])} | {_pct(fpr['render'])} |"
        )
    lines += ["", "Scores (avfr-dct: the video's z, marked above "
              f"{result['threshold']:g}; invisible-watermark: payload bits right of 32, marked from {result['payload_match']}):", ""]  # fmt: skip
    for name, s in result["summary"].items():
        low = ", ".join(f"{k} {v:.1f}" for k, v in s["lowest_marked_score"].items())
        high = ", ".join(f"{k} {v:.1f}" for k, v in s["highest_unmarked_score"].items())
        lines.append(f"- {name}: lowest marked: {low}; highest unmarked: {high}")
        if "single_frame_found" in s:
            f = s["single_frame_found"]
            lines.append(f"  - one frame alone: found in {_pct(f['reencoded'])} of re-encoded marked frames, "
                         f"{_pct(f['unmarked_render'])} of unmarked ones")  # fmt: skip
    lines += ["", f"The visible label costs {result['label_ms']:.2f} ms a frame more. MP4 metadata written with the mark: "
              f"`{result['metadata_description']}`.", ""]  # fmt: skip
    lines += [f"- {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> Path:
    from benchmarks.plots import plt, save_figure

    rows = [r for r in result["rows"] if r["candidate"] == "avfr-dct"]
    fig, ax = plt.subplots(figsize=(6, 4))
    marked = [r["scores"][s] for r in rows for s in STAGES if s != "crf28"]
    harsh = [r["scores"]["crf28"] for r in rows]
    unmarked = [v for r in rows for v in r["unmarked"].values()]
    bins = np.linspace(min(unmarked + marked + harsh) - 1, max(unmarked + marked + harsh) + 1, 40)
    ax.hist(unmarked, bins=bins, alpha=0.7, label="unmarked videos", color="tab:gray")
    ax.hist(marked, bins=bins, alpha=0.7, label="marked, at the decode's settings (decoded, re-encoded)", color="tab:red")
    ax.hist(harsh, bins=bins, alpha=0.7, label="marked, re-encoded at CRF 28", color="tab:orange")
    ax.axvline(result["threshold"], color="black", linestyle="--", label="threshold")
    ax.set_title("avfr's mark: video scores")
    return save_figure(fig, ax, path, "score (z)", "videos")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.watermark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="a folder of clips (default: the dev clips)")
    parser.add_argument("--frames", type=int, default=50, help="frames per clip (default 50)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="watermark")
    parser.add_argument("--smoke", action="store_true", help="1 clip, 8 frames: checks the pipeline, measures nothing")
    parser.add_argument("--force", action="store_true", help="overwrite existing results")
    args = parser.parse_args(argv)
    try:
        refuse_overwrite(args.out, args.name, args.force)
    except AvfrError as err:
        print(f"watermark: {err}", file=sys.stderr)
        return 2
    clips = sorted(p for p in args.clips.iterdir() if p.suffix in (".mp4", ".mpg")) if args.clips.is_dir() else []
    if not clips:
        print(f"watermark: no clips in {args.clips}: pass --clips FOLDER", file=sys.stderr)
        return 2
    clips, frames = (clips[:1], 8) if args.smoke else (clips, args.frames)
    print(write_results(args.out, args.name, run(clips, frames), markdown, plot, image_alt="video scores of marked and unmarked videos"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
