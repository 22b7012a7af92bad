"""How much speech after a frame does the mouth need? The live play-out delay's price, measured.

    python -m benchmarks.lookahead [--data ~/.cache/avfr/prepared/dev] [--raw ../shared/data/talking-heads/dev]
                                   [--model FILE] [--max-frames 100] [--out benchmarks/results] [--force]

The model's audio window is centred on its frame (200 ms, plus the STFT's reach), so it reads
~112 ms of speech after the frame. A live receiver that shows frame t at t + delay has only
the speech up to about t + delay; the rest of its window is silence (``receiver/live.py``).
That is why `avfr receive` waits 150 ms by default, and why a call misses the 150 ms latency
aim. Here every look-ahead runs that exact computation (``LiveAudio`` holding the clip's speech
cut at t + look-ahead) on the prepared dev clips, same-identity protocol of
``codec/training/evaluate.py``, and reports LPIPS and PSNR against the real frames on the whole
picture and on the mouth (the box around MediaPipe's lip landmarks of the real frame, a quarter
larger each side, scaled to 64 px). "silence" (no speech at all) shows what the audio path is
worth in the first place.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.provenance import write_results
from codec import audio_features
from codec.evaluation import psnr
from codec.losses.lpips import LPIPS
from codec.media import video_io
from codec.model import load_model
from codec.progress import progress_bar
from codec.training.evaluate import ClipFrames, dev_clips
from codec.zoo import default_model_path
from receiver.live import LiveAudio

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RAW = REPO.parent / "shared" / "data" / "talking-heads" / "dev"
LOOKAHEADS_MS = (None, 80.0, 40.0, 0.0)  # None: all the speech (the offline decoder's windows)
MOUTH_PX = 64
MOUTH_MARGIN = 0.25


@dataclass
class Row:
    setting: str
    lookahead_ms: float | None  # None: full; -1: no speech at all
    lpips: float
    psnr_db: float
    mouth_lpips: float
    mouth_psnr_db: float


def lip_indices() -> np.ndarray:
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_LIPS

    return np.array(sorted({i for edge in FACEMESH_LIPS for i in edge}), np.int64)


def mouth_boxes(landmarks: np.ndarray, size: int, lips: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) per frame: the lips' bounding box, enlarged, clipped to the picture."""
    boxes = []
    for lm in landmarks:
        pts = lm[lips] * size
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        mx, my = MOUTH_MARGIN * (x1 - x0), MOUTH_MARGIN * (y1 - y0) + MOUTH_MARGIN * (x1 - x0) / 2
        box = (int(y0 - my), int(np.ceil(y1 + my)), int(x0 - mx), int(np.ceil(x1 + mx)))
        boxes.append((max(box[0], 0), min(box[1], size), max(box[2], 0), min(box[3], size)))
    return boxes


def crop_mouths(pictures: torch.Tensor, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    crops = [pictures[i : i + 1, :, y0:y1, x0:x1] for i, (y0, y1, x0, x1) in enumerate(boxes)]
    return torch.cat([F.interpolate(c, size=(MOUTH_PX, MOUTH_PX), mode="bilinear", align_corners=False) for c in crops])


def live_windows(wave: np.ndarray, frames: list[int], fps: float, lookahead_ms: float | None) -> torch.Tensor:
    """[N, 1, 80, 20]: each frame's window as a live receiver holding the speech up to frame time + look-ahead."""
    windows = []
    for i in frames:
        end = len(wave) if lookahead_ms is None else int(round((i / fps + lookahead_ms / 1000.0) * audio_features.DEFAULT.sample_rate))
        audio = LiveAudio(keep_s=len(wave) / audio_features.DEFAULT.sample_rate + 1.0)
        audio.add_pcm(wave[: max(end, 0)])
        windows.append(audio.window(i, fps))
    return torch.from_numpy(np.stack(windows))[:, None]


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def _psnr_sum(pred: torch.Tensor, real: torch.Tensor) -> float:
    return sum(min(psnr(a, b), 100.0) for a, b in zip(_uint8(pred), _uint8(real)))


class Scorer:
    """One model; per clip its source state, keypoints, speech and mouth boxes computed once."""

    def __init__(self, model_path: Path, clips: list[ClipFrames], waves: list[np.ndarray], fps: float) -> None:
        self.model = load_model(model_path).eval()
        self.lpips = LPIPS("alex").eval()
        self.clips, self.waves, self.fps = clips, waves, fps
        size = self.model.config.image_size
        lips = lip_indices()
        with torch.no_grad():
            self.states = [self.model.encode_source(c.inputs[:1]) for c in clips]
            self.keypoints = [self.model.keypoints(c.inputs) for c in clips]
        self.boxes = [mouth_boxes(c.landmarks[1:], size, lips) for c in clips]

    @torch.no_grad()
    def score(self, name: str, lookahead_ms: float | None, silence: bool = False) -> Row:
        sums = np.zeros(4)
        frames = 0
        for clip, wave, state, kps, boxes in zip(self.clips, self.waves, self.states, self.keypoints, self.boxes):
            if silence:
                mels = torch.from_numpy(audio_features.silence_window())[None, None].expand(len(kps), 1, -1, -1)
            else:
                mels = live_windows(wave, clip.frame_indices, self.fps, lookahead_ms)
            pred = torch.cat([self.model.reconstruct(state, kps[s : s + 16], mels[s : s + 16].float()) for s in range(0, len(kps), 16)])[1:]
            real = clip.inputs[1:, :3]
            pm, rm = crop_mouths(pred, boxes), crop_mouths(real, boxes)
            sums += [float(self.lpips(pred, real).sum()), _psnr_sum(pred, real), float(self.lpips(pm, rm).sum()), _psnr_sum(pm, rm)]
            frames += len(real)
        return Row(name, -1.0 if silence else lookahead_ms, *(sums / frames))


def run(model: Path, data: Path, raw: Path, max_frames: int, progress: bool = True) -> dict:
    size = load_model(model).config.image_size
    clips, waves, skipped = [], [], []
    for clip in dev_clips(data, size, max_frames):
        wave = video_io.read_audio(raw / clip.source_file, sample_rate=audio_features.DEFAULT.sample_rate)
        if wave is None:
            skipped.append(clip.name)
            continue
        clips.append(clip)
        waves.append(wave)
    if not clips:
        raise SystemExit(f"lookahead: no dev clip with speech found (prepared {data}, raw {raw}): run `avfr prepare` first")
    scorer = Scorer(model, clips, waves, fps=25.0)
    settings = [("full" if ms is None else f"{ms:g} ms", ms, False) for ms in LOOKAHEADS_MS] + [("silence", None, True)]
    rows = [scorer.score(*s) for s in progress_bar(settings, desc="look-ahead", unit="setting", disable=not progress)]
    return {"model": str(model), "data": str(data), "raw": str(raw), "clips": len(clips), "skipped_no_speech": skipped,
            "frames": int(sum(len(c.inputs) - 1 for c in clips)), "rows": [asdict(r) for r in rows]}  # fmt: skip


def markdown(result: dict) -> str:
    rows = result["rows"]
    full = rows[0]
    lines = [
        "# Speech look-ahead: what a shorter play-out delay costs the picture",
        "",
        f"{result['clips']} dev clips with speech, {result['frames']} driving frames (keyframe = first frame, same identity), "
        f"model `{Path(result['model']).name}`. Each frame's audio window as a live receiver computes it when it holds the speech up to "
        "the frame's time + the look-ahead (silence after).",
        "",
        "| speech after the frame | LPIPS | PSNR dB | mouth LPIPS | d mouth LPIPS vs full | mouth PSNR dB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['lpips']:.4f} | {r['psnr_db']:.2f} | {r['mouth_lpips']:.4f} | "
                     f"{r['mouth_lpips'] - full['mouth_lpips']:+.4f} | {r['mouth_psnr_db']:.2f} |")  # fmt: skip
    lines += [
        "",
        "- full: every window complete (the offline decoder; a live receiver with `--delay-ms` >= ~120 plus jitter).",
        "- mouth: the box around the real frame's lip landmarks, a quarter larger each side, scaled to 64x64.",
        "- silence: no speech at all; the difference to full is all the audio path adds.",
        "",
        f"Machine: {result['machine']['cpu']} ({result['machine']['torch_threads']} torch threads), torch {result['machine']['torch']}; "
        f"commit {result['git']['commit'][:10]}{' (dirty tree)' if result['git']['dirty'] else ''}.",
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> Path:
    from benchmarks.plots import plt, save_figure  # plots selects the headless backend first

    rows = result["rows"]
    timed = [r for r in rows if r["lookahead_ms"] is not None and r["lookahead_ms"] >= 0]
    full = next(r for r in rows if r["lookahead_ms"] is None)
    silence = next(r for r in rows if r["lookahead_ms"] == -1.0)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["lookahead_ms"] for r in timed], [r["mouth_lpips"] for r in timed], "o-", label="mouth, speech cut at the look-ahead")
    ax.axhline(full["mouth_lpips"], color="tab:green", linestyle="--", label="mouth, all speech (offline)")
    ax.axhline(silence["mouth_lpips"], color="tab:gray", linestyle=":", label="mouth, no speech")
    ax.set_title("Speech after the frame against mouth quality")
    return save_figure(fig, ax, path, "speech available after the frame, ms", "mouth LPIPS (lower is better)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lookahead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("~/.cache/avfr/prepared/dev").expanduser(), help="prepared dev set (avfr prepare)")
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help="the raw dev clips (their speech)")
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--max-frames", type=int, default=100, help="frames per clip (the first is the keyframe)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="lookahead")
    parser.add_argument("--force", action="store_true", help="overwrite existing results")
    args = parser.parse_args(argv)
    out_json = args.out / f"{args.name}.json"
    if out_json.exists() and not args.force:
        print(f"lookahead: {out_json} exists: pass --force to overwrite it", file=sys.stderr)
        return 2
    result = run(args.model or default_model_path(), args.data.expanduser(), args.raw, args.max_frames)
    print(write_results(args.out, args.name, result, markdown, plot, image_alt="mouth LPIPS against look-ahead"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
