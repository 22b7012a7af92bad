"""`avfr prepare RAW_DIR OUT_DIR`: raw talking-head videos -> a compact training set.

Per clip: 25 fps; faces detected on every frame and the clip cut into shots where the face is
lost, jumps or wanders (``codec.face_tracker.split_shots``); one fixed crop box per shot
(``find_shot_box``: the crop never moves inside a shot, so all motion the model sees is the
head's); crops stored per shot and size as H.264 mp4; MediaPipe landmarks of every frame
(run on the 256 px crop in tracking mode, the sender's setting) and the log-mel of the whole
clip's 16 kHz audio.

Layout of OUT_DIR (see :mod:`codec.training.dataset` for the reader)::

    index.json                      sizes, settings, one entry per clip (identity, split, shots)
    clips/<clip>/clip.json          the clip's entry (written last: a clip is done when it exists)
    clips/<clip>/meta.npz           landmarks (delta-coded int16, 1/2048 of the crop), found flags,
                                    mel [80, T] float16 (absent when the clip has no audio)
    clips/<clip>/shotNN_<size>.mp4  H.264 crf 16, keyframe every 25 frames (random access for
                                    the loader); the largest size also carries the shot's audio (AAC)

Why this storage: at 128 px, H.264 at crf 16 is several times smaller than JPEG frames of similar
quality, and with a keyframe every second a random frame decodes in a few milliseconds.
Landmarks as raw float16 would weigh more than the 128 px video (1.9 kB per frame); quantised
to 1/2048 of the crop (1/8 px at 256, float16's step near 1.0), delta-coded along time and
deflated they take a fraction of that. The mel is kept exactly (float16) so the loader does no
audio work.

Re-running on the same OUT_DIR skips clips already done (a killed run resumes).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from codec import audio_features
from codec.defaults import PREPARED_SIZES
from codec.errors import InputError
from codec.face_tracker import CropConfig, FaceDetector, ShotConfig, crop_box, detect_faces, find_shot_box, split_shots
from codec.media import video_io
from codec.model_input import MIN_PRIOR_SIZE, resize_rgb
from codec.priors import FacePriors
from codec.progress import progress_bar
from codec.training.landmark_codes import LANDMARK_SCALE, decode_landmarks, encode_landmarks

VIDEO_EXTENSIONS = {".mp4", ".mpg", ".mpeg", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".flv"}
FORMAT_VERSION = 1
PRIOR_SIZE = MIN_PRIOR_SIZE  # MediaPipe runs on crops of this size (as codec.model_input does at inference)


@dataclass
class PrepareConfig:
    """Everything that decides what the prepared set contains; stored in index.json."""

    fps: float = 25.0
    sample_rate: int = 16000
    crf: float = 16.0
    gop: int = 25
    preset: str = "fast"
    audio_bitrate: int = 48000
    crop: CropConfig = field(default_factory=CropConfig)
    shots: ShotConfig = field(default_factory=ShotConfig)


@dataclass
class ManifestEntry:
    identity: str
    split: str
    duration_s: float | None = None


@dataclass
class PrepareReport:
    """What prepare did; summary() is the CLI's closing text."""

    out_dir: Path
    clips_done: int = 0
    clips_reused: int = 0
    clips_skipped: list[tuple[str, str]] = field(default_factory=list)
    frames: int = 0
    shots: int = 0
    seconds: float = 0.0
    bytes_on_disk: int = 0

    def summary(self) -> str:
        fps = self.frames / self.seconds if self.seconds else 0.0
        lines = [
            f"prepared {self.clips_done} clips ({self.clips_reused} already done), {self.shots} shots, {self.frames} frames "
            f"in {self.seconds:.0f} s ({fps:.1f} frames/s); {self.bytes_on_disk / 2**20:.1f} MiB in {self.out_dir}"
        ]
        if self.clips_skipped:
            lines.append(f"skipped {len(self.clips_skipped)} clips:")
            lines += [f"  {name}: {why}" for name, why in self.clips_skipped]
        return "\n".join(lines)


# ---- manifest ------------------------------------------------------------------------------


def find_manifest(raw_dir: Path) -> Path | None:
    """MANIFEST.tsv in RAW_DIR or beside it (the shared data keeps it one level up)."""
    for candidate in (raw_dir / "MANIFEST.tsv", raw_dir.parent / "MANIFEST.tsv"):
        if candidate.is_file():
            return candidate
    return None


def read_manifest(path: Path) -> dict[str, ManifestEntry]:
    """File name -> identity and split, from the notes column (``id=<identity>; split=<split>``)."""
    entries: dict[str, ManifestEntry] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            notes = row.get("notes") or ""
            ident = re.search(r"\bid=([^;]+)", notes)
            split = re.search(r"\bsplit=([^;]+)", notes)
            if not row.get("file") or not ident:
                continue
            try:
                duration = float(row.get("duration_s") or "nan")
            except ValueError:
                duration = None
            entries[Path(row["file"]).name] = ManifestEntry(
                identity=ident.group(1).strip(),
                split=split.group(1).strip() if split else "train",
                duration_s=duration if duration == duration else None,
            )
    return entries


def list_clips(raw_dir: Path) -> list[Path]:
    return sorted(p for p in raw_dir.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def cap_per_identity(clips: list[Path], manifest: dict[str, ManifestEntry], max_seconds: float) -> list[Path]:
    """A subset with every identity and at most ~max_seconds of each (whole clips, in order)."""
    used: dict[str, float] = {}
    chosen = []
    for clip in clips:
        entry = manifest.get(clip.name)
        ident = entry.identity if entry else clip.stem
        if used.get(ident, 0.0) >= max_seconds:
            continue
        chosen.append(clip)
        used[ident] = used.get(ident, 0.0) + ((entry.duration_s if entry else None) or 5.0)
    return chosen


# ---- one clip ------------------------------------------------------------------------------


def clip_id(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)


@dataclass
class _ClipResult:
    entry: dict
    frames: int


def prepare_clip(path: Path, out_dir: Path, sizes: tuple[int, ...], meta: ManifestEntry, cfg: PrepareConfig, detector: FaceDetector) -> _ClipResult:
    """Crops, landmarks and features of one clip into out_dir/clips/<id>/; raises InputError to skip it."""
    info = video_io.probe(path)
    faces = detect_faces(video_io.iter_frames(path, fps=cfg.fps), detector)
    n_frames = len(faces)
    if n_frames == 0:
        raise InputError("no frames decoded")
    shots = split_shots(faces, cfg.shots)
    if not shots:
        found = sum(f is not None for f in faces)
        raise InputError(f"no face shot of {cfg.shots.min_frames}+ frames (face in {found}/{n_frames} frames)")
    hw = (info.height or 0, info.width or 0)
    boxes = [find_shot_box(s.faces, _frame_hw(path, hw), cfg.crop) for s in shots]
    wave = _clip_audio(path, info, n_frames, cfg)
    clip_dir = out_dir / "clips" / clip_id(path)
    tmp_dir = clip_dir.with_name(clip_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    landmarks = np.zeros((n_frames, 468, 2), np.float32)
    found = np.zeros(n_frames, bool)
    shot_frames = _frames_by_shot(video_io.iter_frames(path, fps=cfg.fps), shots)
    shot_entries = []
    for k, (shot, box) in enumerate(zip(shots, boxes)):
        crops = (crop_box(frame, box, max(PRIOR_SIZE, max(sizes))) for frame in next(shot_frames))
        _write_shot(tmp_dir, k, shot.start, crops, sizes, wave, landmarks, found, cfg)
        shot_entries.append({"start": shot.start, "end": shot.end, "box": list(box), "found": int(found[shot.start : shot.end].sum())})
    arrays = {"landmarks": encode_landmarks(landmarks), "found": found}
    if wave is not None:
        arrays["mel"] = audio_features.log_mel(wave, cfg.sample_rate).astype(np.float16)
    np.savez_compressed(tmp_dir / "meta.npz", **arrays)
    entry = {
        "id": clip_id(path),
        "file": path.name,
        "identity": meta.identity,
        "split": meta.split,
        "n_frames": n_frames,
        "has_audio": wave is not None,
        "source_fps": info.fps,
        "source_size": [info.width, info.height],
        "shots": shot_entries,
    }
    (tmp_dir / "clip.json").write_text(json.dumps(entry, indent=1))
    shutil.rmtree(clip_dir, ignore_errors=True)
    tmp_dir.rename(clip_dir)
    return _ClipResult(entry=entry, frames=sum(s.length for s in shots))


def _frame_hw(path: Path, hw: tuple[int, int]) -> tuple[int, int]:
    """The decoded frame size (rotation metadata can swap the probed one)."""
    first = next(video_io.iter_frames(path, max_frames=1), None)
    return first.shape[:2] if first is not None else hw


def _clip_audio(path: Path, info: video_io.MediaInfo, n_frames: int, cfg: PrepareConfig) -> np.ndarray | None:
    if not info.has_audio:
        return None
    wave = video_io.read_audio(path, sample_rate=cfg.sample_rate)
    if wave is None:
        return None
    return video_io.fit_length(wave, int(round(n_frames * cfg.sample_rate / cfg.fps)))


def _frames_by_shot(frames: Iterable[np.ndarray], shots: list) -> Iterator[Iterator[np.ndarray]]:
    """One iterator per shot over its frames, from a single pass over the clip."""
    it = enumerate(frames)
    for shot in shots:

        def shot_iter(shot=shot) -> Iterator[np.ndarray]:
            for i, frame in it:
                if i >= shot.start:
                    yield frame
                if i >= shot.end - 1:
                    return

        yield shot_iter()


def _write_shot(
    clip_dir: Path,
    k: int,
    start: int,
    crops: Iterable[np.ndarray],
    sizes: tuple[int, ...],
    wave: np.ndarray | None,
    landmarks: np.ndarray,
    found: np.ndarray,
    cfg: PrepareConfig,
) -> None:
    largest = max(sizes)
    writer_cfg = video_io.WriterConfig(crf=cfg.crf, preset=cfg.preset, gop=cfg.gop, audio_bitrate=cfg.audio_bitrate)
    writers = {
        s: video_io.VideoWriter(
            clip_dir / f"shot{k:02d}_{s}.mp4",
            fps=cfg.fps,
            audio_sample_rate=cfg.sample_rate if (s == largest and wave is not None) else None,
            config=writer_cfg,
        )
        for s in sizes
    }
    per_frame = cfg.sample_rate / cfg.fps
    try:
        with FacePriors(static_image_mode=False) as priors:
            for j, crop in enumerate(crops):
                i = start + j
                prior_crop = resize_rgb(crop, PRIOR_SIZE)
                lm = priors.landmarks(prior_crop)
                if lm is not None:
                    landmarks[i], found[i] = lm / PRIOR_SIZE, True
                for s, w in writers.items():
                    w.write(resize_rgb(crop, s))  # the inference resize, so training crops match
                    if w.audio is not None and wave is not None:
                        w.write_audio(wave[int(round(i * per_frame)) : int(round((i + 1) * per_frame))])
    finally:
        for w in writers.values():
            w.close()


# ---- the whole folder ----------------------------------------------------------------------


def prepare(
    raw_dir: Path | str,
    out_dir: Path | str,
    sizes: tuple[int, ...] = PREPARED_SIZES,
    manifest: Path | str | None = None,
    limit: int | None = None,
    progress: bool = True,
    max_seconds_per_identity: float | None = None,
    config: PrepareConfig | None = None,
) -> PrepareReport:
    """Prepare every video in raw_dir (see the module doc); clips without a usable face are skipped."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    cfg = config or PrepareConfig()
    sizes = tuple(sorted({int(s) for s in sizes}, reverse=True))
    if not raw_dir.is_dir():
        raise InputError(f"{raw_dir} is not a folder: give the folder of raw videos")
    if not sizes or min(sizes) < 32:
        raise InputError(f"crop sizes {sizes} are not usable: give sizes such as 256 128")
    manifest_path = Path(manifest) if manifest else find_manifest(raw_dir)
    entries = read_manifest(manifest_path) if manifest_path else {}
    clips = list_clips(raw_dir)
    if max_seconds_per_identity is not None:
        clips = cap_per_identity(clips, entries, max_seconds_per_identity)
    clips = clips[:limit] if limit is not None else clips
    if not clips:
        raise InputError(f"no videos in {raw_dir}: expected files ending in {sorted(VIDEO_EXTENSIONS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = PrepareReport(out_dir=out_dir)
    started = time.perf_counter()
    bar = progress_bar(total=len(clips), desc="prepare", unit="clip", disable=not progress)
    with FaceDetector(cfg.crop.min_detection_confidence) as detector:
        for path in clips:
            _prepare_one(path, out_dir, sizes, entries, cfg, detector, report)
            bar.update(1)
            bar.set_postfix(frames=report.frames, skipped=len(report.clips_skipped), fps=f"{report.frames / (time.perf_counter() - started):.1f}")
    bar.close()
    write_index(out_dir, sizes, cfg, report.clips_skipped)
    report.seconds = time.perf_counter() - started
    report.bytes_on_disk = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    return report


def _prepare_one(
    path: Path, out_dir: Path, sizes: tuple[int, ...], entries: dict[str, ManifestEntry], cfg: PrepareConfig, detector: FaceDetector, report: PrepareReport
) -> None:
    done = out_dir / "clips" / clip_id(path) / "clip.json"
    if done.is_file():
        entry = json.loads(done.read_text())
        if all((done.parent / f"shot00_{s}.mp4").is_file() for s in sizes):
            report.clips_done += 1
            report.clips_reused += 1
            report.shots += len(entry["shots"])
            report.frames += sum(s["end"] - s["start"] for s in entry["shots"])
            return
    meta = entries.get(path.name) or ManifestEntry(identity=path.stem, split="train")
    try:
        result = prepare_clip(path, out_dir, sizes, meta, cfg, detector)
    except InputError as exc:
        report.clips_skipped.append((path.name, str(exc)))
        return
    report.clips_done += 1
    report.shots += len(result.entry["shots"])
    report.frames += result.frames


def write_index(out_dir: Path, sizes: tuple[int, ...], cfg: PrepareConfig, skipped: list[tuple[str, str]]) -> dict:
    """index.json from every finished clip.json (so a resumed run indexes earlier clips too)."""
    clips = [json.loads(p.read_text()) for p in sorted((out_dir / "clips").glob("*/clip.json"))]
    index = {
        "format_version": FORMAT_VERSION,
        "sizes": list(sizes),
        "fps": cfg.fps,
        "sample_rate": cfg.sample_rate,
        "landmark_scale": LANDMARK_SCALE,
        "audio_features": asdict(audio_features.DEFAULT),
        "config": json.loads(json.dumps(asdict(cfg))),
        "clips": clips,
        "skipped": [{"file": f, "reason": r} for f, r in skipped],
    }
    tmp = out_dir / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    tmp.replace(out_dir / "index.json")  # atomic: a trainer reading it meanwhile never sees half a file
    return index


__all__ = [
    "PrepareConfig",
    "PrepareReport",
    "ManifestEntry",
    "prepare",
    "prepare_clip",
    "read_manifest",
    "find_manifest",
    "cap_per_identity",
    "encode_landmarks",
    "decode_landmarks",
    "write_index",
]
