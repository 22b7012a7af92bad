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
picture and on the mouth, and how the decoded mouth and eyes open and close with the real ones
(all from :mod:`codec.face_measures`, as the model card and ``benchmarks.rd``). "silence" (no
speech at all) shows what the audio path is worth in the first place.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.provenance import write_results
from codec import audio_features
from codec.defaults import prepared_dir
from codec.evaluation import finite_psnr
from codec.face_measures import FaceMeasures, crop_mouths, mean_over_clips
from codec.losses.lpips import LPIPS
from codec.media import video_io
from codec.model import load_model
from codec.model_input import to_uint8_rgb
from codec.progress import progress_bar
from codec.training.evaluate import ClipFrames, dev_clips
from codec.zoo import default_model_path
from receiver.live import LiveAudio

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RAW = REPO.parent / "shared" / "data" / "talking-heads" / "dev"
LOOKAHEADS_MS = (None, 80.0, 40.0, 0.0)  # None: all the speech (the offline decoder's windows)


@dataclass
class Row:
    setting: str
    lookahead_ms: float | None  # None: full; -1: no speech at all
    lpips: float
    psnr_db: float
    mouth_lpips: float
    mouth_psnr_db: float
    mouth_corr: float | None  # means over clips (codec.face_measures)
    mouth_amplitude_ratio: float | None
    eye_corr: float | None


def live_windows(wave: np.ndarray, frames: list[int], fps: float, lookahead_ms: float | None) -> torch.Tensor:
    """[N, 1, 80, 20]: each frame's window as a live receiver holding the speech up to frame time + look-ahead."""
    windows = []
    for i in frames:
        end = len(wave) if lookahead_ms is None else int(round((i / fps + lookahead_ms / 1000.0) * audio_features.DEFAULT.sample_rate))
        audio = LiveAudio(keep_s=len(wave) / audio_features.DEFAULT.sample_rate + 1.0)
        audio.add_pcm(wave[: max(end, 0)])
        windows.append(audio.window(i, fps))
    return torch.from_numpy(np.stack(windows))[:, None]


def _psnr_sum(pred: torch.Tensor, real: torch.Tensor) -> float:
    return sum(finite_psnr(a, b) for a, b in zip(to_uint8_rgb(pred), to_uint8_rgb(real)))


class Scorer:
    """One model; per clip its source state, keypoints, speech, and the real frames' face
    track (landmarks, mouth boxes) computed once."""

    def __init__(self, model_path: Path, clips: list[ClipFrames], waves: list[np.ndarray], fps: float) -> None:
        self.model = load_model(model_path).eval()
        self.lpips = LPIPS("alex").eval()
        self.faces = FaceMeasures(self.lpips)
        self.clips, self.waves, self.fps = clips, waves, fps
        with torch.no_grad():
            self.states = [self.model.encode_source(c.inputs[:1]) for c in clips]
            self.keypoints = [self.model.keypoints(c.inputs) for c in clips]
        self.tracks = [self.faces.track(c.inputs[1:]) for c in clips]

    @torch.no_grad()
    def score(self, name: str, lookahead_ms: float | None, silence: bool = False) -> Row:
        """Whole-picture figures: means over frames; mouth and eye figures: means over clips."""
        sums, frames, faces = np.zeros(2), 0, []
        for clip, wave, state, kps, track in zip(self.clips, self.waves, self.states, self.keypoints, self.tracks):
            if silence:
                mels = torch.from_numpy(audio_features.silence_window())[None, None].expand(len(kps), 1, -1, -1)
            else:
                mels = live_windows(wave, clip.frame_indices, self.fps, lookahead_ms)
            pred = torch.cat([self.model.reconstruct(state, kps[s : s + 16], mels[s : s + 16].float()) for s in range(0, len(kps), 16)])[1:]
            real = clip.inputs[1:, :3]
            face = self.faces.compare(real, track, pred)
            sums += [float(self.lpips(pred, real).sum()), _psnr_sum(pred, real)]
            frames += len(real)
            faces.append(face.summary() | {"mouth_psnr_db": mouth_psnr(pred, real, face.boxes)})
        m = mean_over_clips(faces, ("mouth_lpips", "mouth_psnr_db", "mouth_corr", "mouth_amplitude_ratio", "eye_corr"))
        return Row(name, -1.0 if silence else lookahead_ms, sums[0] / frames, sums[1] / frames, m["mouth_lpips"], m["mouth_psnr_db"],
                   m["mouth_corr"], m["mouth_amplitude_ratio"], m["eye_corr"])  # fmt: skip


def mouth_psnr(pred: torch.Tensor, real: torch.Tensor, boxes: list) -> float | None:
    """Mean PSNR of the mouth crops over the frames with a box."""
    boxed = [i for i, b in enumerate(boxes) if b is not None]
    if not boxed:
        return None
    pm, rm = (crop_mouths(x[boxed], [boxes[i] for i in boxed]) for x in (pred, real))
    return _psnr_sum(pm, rm) / len(boxed)


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
        "| speech after the frame | LPIPS | PSNR dB | mouth LPIPS | d mouth LPIPS vs full | mouth PSNR dB | mouth corr | mouth amp ratio | eye corr |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['lpips']:.4f} | {r['psnr_db']:.2f} | {_f(r['mouth_lpips'], 4)} | "
                     f"{_f(_diff(r['mouth_lpips'], full['mouth_lpips']), 4, '+')} | {_f(r['mouth_psnr_db'], 2)} | "
                     f"{_f(r['mouth_corr'], 3)} | {_f(r['mouth_amplitude_ratio'], 3)} | {_f(r['eye_corr'], 3)} |")  # fmt: skip
    lines += [
        "",
        "- full: every window complete (the offline decoder; a live receiver with `--delay-ms` >= ~120 plus jitter).",
        "- LPIPS, PSNR: means over frames. Mouth and eye columns (`codec.face_measures`): means over clips.",
        "- mouth: the box around the real frame's lip landmarks, a quarter larger each side, scaled to 64x64.",
        "- mouth corr / amp ratio: Pearson correlation and std ratio (decoded / real) of the mouth opening per frame (inner-lip "
        "gap over the eye-corner distance, MediaPipe on both pictures at 256 px); eye corr: the same for the eyelid gap (blinks).",
        "- silence: no speech at all; the difference to full is all the audio path adds.",
        "",
        f"Machine: {result['machine']['cpu']} ({result['machine']['torch_threads']} torch threads), torch {result['machine']['torch']}; "
        f"commit {result['git']['commit'][:10]}{' (dirty tree)' if result['git']['dirty'] else ''}.",
    ]
    return "\n".join(lines) + "\n"


def _f(v: float | None, digits: int, sign: str = "") -> str:
    return "–" if v is None else f"{v:{sign}.{digits}f}"


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


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
    parser.add_argument("--data", type=Path, default=prepared_dir("dev"), help="prepared dev set (avfr prepare)")
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
