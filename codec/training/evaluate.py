"""Same-identity reconstruction on prepared dev data: the model card's numbers and pictures.

The protocol is the paper's same-identity setting: in each dev clip (its first shot with a
face), the keyframe is the first face frame, every later frame (up to `max_frames`) drives
the model, with the clip's own audio. We report mean LPIPS (AlexNet, the metric flavour) and
mean PSNR against the real frames, next to "repeat the keyframe", the codec that sends no
motion at all: a model that does not beat it is not worth its bits. The face measures of
:mod:`codec.face_measures` (mouth and eye opening followed, mouth-region LPIPS) are taken on
the same driving frames; with ``audio_ablation`` every clip with speech is rendered again
with silence in place of its speech, so each figure also says what the speech is worth.

Inputs come from the prepared set, which holds the same crops, landmarks and log-mel the
codec would compute, so this isolates the model from the keyframe codec's loss (the codec
path is measured by benchmarks/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from codec import audio_features
from codec.defaults import prepared_dir
from codec.evaluation import finite_psnr
from codec.face_measures import FACE_KEYS, FaceComparison, FaceMeasures, mean_over_clips
from codec.losses.lpips import LPIPS
from codec.model import AVFRModel, load_model
from codec.model_input import to_uint8_rgb
from codec.motion import relative_keypoints, scale_mouth_motion
from codec.progress import progress_bar
from codec.training.dataset import PreparedDataset, read_shot_frames
from codec.training.samples import grid


@dataclass(frozen=True)
class Targets:
    """Issue 13's targets for the model alone, on the dev clips with speech (the card and the
    training curves judge against these)."""

    mouth_corr: float = 0.8
    mouth_amplitude_ratio: float = 0.8
    silence_mouth_lpips_worse: float = 0.05  # silence instead of the speech: mouth LPIPS at least this much worse


TARGETS = Targets()
SERIES_DECIMALS = 4  # mouth-opening series kept for plots: 1e-4 of the eye-corner distance
REPEAT_FACE_KEYS = ("mouth_lpips", "mouth_corr", "mouth_amplitude_ratio", "eye_corr", "eye_amplitude_ratio")  # the still mouth's scores, for scale
SAME_WITHOUT_SPEECH = ("frames", "face_frames", "no_face_real", "repeat_keyframe_lpips", "repeat_keyframe_psnr_db")  # not rendered again


@dataclass
class ClipFrames:
    name: str
    inputs: torch.Tensor  # [N, 5, S, S]: frame 0 is the keyframe
    mels: torch.Tensor  # [N, 1, 80, 20]
    frame_indices: list[int] = field(default_factory=list)  # in the clip, at the prepared fps
    source_file: str = ""  # the raw clip's file name (benchmarks re-read its audio)
    landmarks: np.ndarray | None = None  # [N, 468, 2] fractions of the crop
    has_speech: bool = True  # False: the clip has no audio track, and mels are the silence window


def dev_clips(data: Path, size: int, max_frames: int, names: Sequence[str] | None = None) -> list[ClipFrames]:
    """First face shot of each dev clip (or of the clips ``names``), as model inputs (no augmentation)."""
    ds = PreparedDataset(data, size=size, split="dev", augment=False)
    clips, seen = [], set()
    for ref in ds.shots:
        if ref.clip in seen:
            continue
        seen.add(ref.clip)
        clip = ds.clips[ref.clip]
        if names is not None and clip.entry["id"] not in names:
            continue
        idx = [int(i) for i in ref.good[:max_frames]]
        frames = read_shot_frames(ds.shot_path(ref), [i - ref.start for i in idx])
        inputs = torch.stack([ds.model_input(f, clip.landmarks[i], False, None) for f, i in zip(frames, idx)])
        if clip.mel is not None:
            mels = [audio_features.mel_window(clip.mel, i, fps=ds.fps) for i in idx]
        else:
            mels = [audio_features.silence_window() for _ in idx]
        mels_t = torch.from_numpy(np.stack(mels))[:, None]
        landmarks = clip.landmarks[idx].astype(np.float32)
        clips.append(ClipFrames(clip.entry["id"], inputs, mels_t, idx, clip.entry["file"], landmarks, clip.mel is not None))
    return clips


def evenly_spread(names: Sequence[str], count: int) -> list[str]:
    """``count`` of ``names`` (in their order) spread from the first to the last: a subset chosen
    by position, never by score."""
    k = min(count, len(names))
    return [names[i] for i in sorted({round(i * (len(names) - 1) / max(k - 1, 1)) for i in range(k)})]


def speech_clip_names(data: Path, size: int) -> list[str]:
    """The dev clips with speech, sorted by name (read from the index and features, no frames)."""
    ds = PreparedDataset(data, size=size, split="dev", augment=False)
    return sorted({ds.clips[ref.clip].entry["id"] for ref in ds.shots if ds.clips[ref.clip].mel is not None})


@torch.no_grad()
def reconstruct_clip(model: AVFRModel, clip: ClipFrames, batch: int = 16, mouth_gain: float = 1.0) -> torch.Tensor:
    state = model.encode_source(clip.inputs[:1])
    out = []
    for s in range(0, len(clip.inputs), batch):
        kp = model.keypoints(clip.inputs[s : s + batch])
        if mouth_gain != 1.0:
            kp = scale_mouth_motion(state.keypoints, kp, model.config.mouth_keypoint_slots(), mouth_gain)
        out.append(model.reconstruct(state, kp, clip.mels[s : s + batch].float()))
    return torch.cat(out)


@torch.no_grad()
def clip_metrics(pred: torch.Tensor, real: torch.Tensor, lpips: LPIPS) -> dict[str, float]:
    """Means over the driving frames (frame 0, the keyframe itself, excluded)."""
    pred, real = pred[1:], real[1:, :3]
    repeat = real[:1].expand_as(real)
    p8, r8, k8 = to_uint8_rgb(pred), to_uint8_rgb(real), to_uint8_rgb(repeat)
    mean = lambda xs: float(np.mean(xs))  # noqa: E731
    return {
        "frames": int(pred.shape[0]),
        "lpips": float(lpips(pred, real).mean()),
        "psnr_db": mean([finite_psnr(a, b) for a, b in zip(p8, r8)]),
        "repeat_keyframe_lpips": float(lpips(repeat, real).mean()),
        "repeat_keyframe_psnr_db": mean([finite_psnr(a, b) for a, b in zip(k8, r8)]),
    }


def without_speech(clip: ClipFrames) -> ClipFrames:
    silence = torch.from_numpy(audio_features.silence_window())[None, None].expand_as(clip.mels).contiguous()
    return replace(clip, mels=silence, has_speech=False)


def _without_speech_keys(record: dict) -> dict:
    return {f"{k}_without_speech": v for k, v in record.items() if k not in SAME_WITHOUT_SPEECH}


def evaluate_clip(
    model: AVFRModel,
    clip: ClipFrames,
    lpips: LPIPS,
    faces: FaceMeasures,
    audio_ablation: bool,
    repeat_keyframe: bool = True,
    mouth_gain: float = 1.0,
) -> tuple[dict, dict]:
    """One clip's record (whole picture, face measures; with ``audio_ablation`` and speech,
    the same again rendered with silence, keys ``*_without_speech``; with ``repeat_keyframe``
    the face measures of the keyframe shown throughout) and its mouth-opening series (real,
    decoded, decoded with silence) over the driving frames."""
    real = clip.inputs[1:, :3]
    real_track = faces.track(real)
    pred = reconstruct_clip(model, clip, mouth_gain=mouth_gain)
    face = faces.compare(real, real_track, pred[1:])
    record = clip_metrics(pred, clip.inputs, lpips) | face.summary() | {"has_speech": clip.has_speech}
    if repeat_keyframe:
        still = faces.compare(real, real_track, clip.inputs[:1, :3].expand_as(real)).summary()
        record |= {f"repeat_keyframe_{k}": still[k] for k in REPEAT_FACE_KEYS}
    series = {"frame": clip.frame_indices[1:], "real": _series(real_track.openings["mouth"]), "decoded": _series(face.decoded.openings["mouth"])}
    if audio_ablation and clip.has_speech:
        silent_pred = reconstruct_clip(model, without_speech(clip), mouth_gain=mouth_gain)
        silent: FaceComparison = faces.compare(real, real_track, silent_pred[1:])
        record |= _without_speech_keys(clip_metrics(silent_pred, clip.inputs, lpips) | silent.summary())
        series["decoded_without_speech"] = _series(silent.decoded.openings["mouth"])
    return record, series


def _series(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), SERIES_DECIMALS) for v in values]


def summarise(per_clip: dict[str, dict]) -> dict:
    """Means: whole-picture figures weighted by frames over all clips; face measures as means
    over clips (all clips, and ``speech_clips_*`` over the clips with speech, where the
    targets are); ``*_without_speech`` over the clips that were also rendered with silence."""
    keys = ["lpips", "psnr_db", "repeat_keyframe_lpips", "repeat_keyframe_psnr_db"]
    weights = np.array([m["frames"] for m in per_clip.values()], np.float64)
    mean = {k: float(np.average([m[k] for m in per_clip.values()], weights=weights)) for k in keys}
    face_keys = FACE_KEYS + tuple(f"repeat_keyframe_{k}" for k in REPEAT_FACE_KEYS if any(f"repeat_keyframe_{k}" in m for m in per_clip.values()))
    mean |= mean_over_clips(per_clip.values(), face_keys)
    speech = [m for m in per_clip.values() if m["has_speech"]]
    mean |= {f"speech_clips_{k}": v for k, v in mean_over_clips(speech, face_keys).items()}
    ablated = [m for m in speech if "lpips_without_speech" in m]
    if ablated:
        w = [m["frames"] for m in ablated]
        for k in ("lpips", "lpips_without_speech", "psnr_db", "psnr_db_without_speech"):
            mean[f"speech_clips_{k}"] = float(np.average([m[k] for m in ablated], weights=w))
        mean |= {f"speech_clips_{k}": v for k, v in mean_over_clips(ablated, suffix="_without_speech").items()}
        mean["speech_clips"] = len(ablated)
    return mean


def evaluate_model(
    model_path: Path,
    data: Path,
    max_frames: int = 100,
    progress: bool = True,
    audio_ablation: bool = False,
    clip_names: Sequence[str] | None = None,
    mouth_gain: float = 1.0,
    speech_only: bool = False,
) -> dict:
    """``audio_ablation``: also render every clip with speech as if it had none, so the card
    can say whether the audio path changes the picture at all. ``series`` in the result: each
    clip's mouth opening per driving frame (real, decoded, decoded with silence), for plots."""
    model = load_model(model_path).eval()
    lpips = LPIPS("alex").eval()
    faces = FaceMeasures(lpips)
    if speech_only:
        clip_names = [c for c in speech_clip_names(data, model.config.image_size) if clip_names is None or c in clip_names]
    clips = dev_clips(data, model.config.image_size, max_frames, clip_names)
    per_clip, series = {}, {}
    for clip in progress_bar(clips, desc="evaluate", unit="clip", disable=not progress):
        per_clip[clip.name], series[clip.name] = evaluate_clip(model, clip, lpips, faces, audio_ablation, mouth_gain=mouth_gain)
    return {
        "model": str(model_path),
        "data": str(data),
        "max_frames": max_frames,
        "mouth_gain": mouth_gain,
        "mean": summarise(per_clip),
        "clips": per_clip,
        "series": series,
    }


@torch.no_grad()
def same_identity_grid(model: AVFRModel, clips: list[ClipFrames], path: Path, columns: int = 4) -> None:
    """Rows: one dev clip each; columns: keyframe, then (real | generated) at even times."""
    rows = []
    for clip in clips:
        pred = reconstruct_clip(model, clip)
        picks = np.linspace(1, len(clip.inputs) - 1, num=columns).round().astype(int)
        row = [to_uint8_rgb(clip.inputs[0])]
        for t in picks:
            row += [to_uint8_rgb(clip.inputs[t]), to_uint8_rgb(pred[t])]
        rows.append(row)
    _save(grid(rows), path)


@torch.no_grad()
def cross_identity_grid(model: AVFRModel, stills: list[torch.Tensor], driver: ClipFrames, path: Path, columns: int = 5, show_driver: bool = True) -> None:
    """Rows: the driving clip (unless ``show_driver`` is False: research-only frames must not
    be in a committed picture), then each still photo animated by it (relative motion) with
    its audio."""
    picks = np.linspace(0, len(driver.inputs) - 1, num=columns).round().astype(int)
    kp_drv = model.keypoints(driver.inputs[picks])
    kp_first = model.keypoints(driver.inputs[:1]).expand_as(kp_drv)
    rows = [[np.full_like(to_uint8_rgb(driver.inputs[0]), 255)] + [to_uint8_rgb(driver.inputs[t]) for t in picks]] if show_driver else []
    for still in stills:
        state = model.encode_source(still[None])
        kp = relative_keypoints(state.keypoints.expand_as(kp_drv), kp_drv, kp_first)
        pred = model.reconstruct(state, kp, driver.mels[picks].float())
        rows.append([to_uint8_rgb(still)] + [to_uint8_rgb(p) for p in pred])
    _save(grid(rows), path)


def _save(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def summary_text(result: dict) -> str:
    """What a run of the protocol found, in two or three lines for a terminal."""
    m = result["mean"]
    lines = [
        f"{result['model']} on {len(result['clips'])} dev clips: LPIPS {m['lpips']:.4f} (repeat keyframe {m['repeat_keyframe_lpips']:.4f}), "
        f"PSNR {m['psnr_db']:.2f} dB (repeat keyframe {m['repeat_keyframe_psnr_db']:.2f} dB)",
        f"  {m['speech_clips_mouth_lpips_clips']} clips with speech: mouth corr {_fmt(m['speech_clips_mouth_corr'])}, amplitude ratio "
        f"{_fmt(m['speech_clips_mouth_amplitude_ratio'])}, eye corr {_fmt(m['speech_clips_eye_corr'])}, mouth LPIPS {_fmt(m['speech_clips_mouth_lpips'], 4)}",
    ]
    if "speech_clips_mouth_lpips_without_speech" in m:
        lines.append(f"  with silence instead of the speech: mouth corr {_fmt(m['speech_clips_mouth_corr_without_speech'])}, amplitude ratio "
                     f"{_fmt(m['speech_clips_mouth_amplitude_ratio_without_speech'])}, eye corr {_fmt(m['speech_clips_eye_corr_without_speech'])}, "
                     f"mouth LPIPS {_fmt(m['speech_clips_mouth_lpips_without_speech'], 4)}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="same-identity reconstruction on prepared dev data")
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=prepared_dir("dev"))
    parser.add_argument("--max-frames", type=int, default=100)
    parser.add_argument("-o", "--output", type=Path, default=None, help="JSON file for the results")
    parser.add_argument("--audio-ablation", action="store_true", help="also render the clips with speech with silence instead")
    parser.add_argument("--clips", nargs="+", default=None, help="only these dev clips (ids)")
    parser.add_argument("--mouth-gain", type=float, default=1.0, help="analysis: scale the lip keypoints' own motion by this (1: as sent)")
    parser.add_argument("--speech-clips", action="store_true", help="only the dev clips with speech")
    args = parser.parse_args(argv)
    results = [
        evaluate_model(
            m, args.data, args.max_frames, audio_ablation=args.audio_ablation, clip_names=args.clips, mouth_gain=args.mouth_gain, speech_only=args.speech_clips
        )
        for m in args.models
    ]
    for r in results:
        print(summary_text(r))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
