"""The prepared training set (``avfr prepare``) as a torch Dataset of (source, driving, audio) pairs.

One item = one shot: a source and a driving frame drawn at random from the same shot (same
person, same crop box, so every difference between them is head and face motion), both as
5-channel inputs with priors re-drawn from the stored landmarks at the requested size, and
the 200 ms log-mel window centred on the driving frame.

Sampling: :meth:`PreparedDataset.sample_weights` gives every identity the same total weight
(one GRID speaker with 4 minutes must not outweigh 198 people with 10 seconds), split among
its shots by length. ``identity_balanced_sampler`` wraps it for a plain DataLoader; the trainer
uses the weights with its own step-seeded sampler.

Augmentation (``augment=True``), the same for both frames of a pair so it never looks like
motion: horizontal flip (images and landmarks, so priors are re-drawn mirrored) and mild
colour jitter (brightness, contrast, saturation within +-10%).

Cost per item on one CPU core: two random-access frame decodes from an H.264 file (a keyframe
every 25 frames) and two prior drawings; measured in the test and the report (items/s).
Randomness comes from torch's generator, so torch.manual_seed (and DataLoader worker seeding)
make items reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from codec import audio_features
from codec.errors import InputError
from codec.model_input import resize_rgb
from codec.priors import face_oval_mask, render_mesh
from codec.training.landmark_codes import decode_landmarks

try:
    import av
except ImportError:  # a lent GPU machine has no PyAV: shots are decoded with OpenCV there
    av = None

SPLIT_ALIASES = {"dev": {"dev", "eval"}, "eval": {"dev", "eval"}, "train": {"train"}}


@dataclass
class ShotRef:
    """One shot of one clip: where its frames are and which of them have a face."""

    clip: int
    shot: int
    start: int
    end: int
    identity: str
    good: np.ndarray  # clip frame indices with a face


@dataclass
class _Clip:
    entry: dict
    directory: Path
    landmarks: np.ndarray  # (N, 468, 2) float16, crop units
    found: np.ndarray
    mel: np.ndarray | None  # (80, T) float16


def resolve_root(root: Path, split: str | None) -> Path:
    """The folder holding index.json: root itself, or root/<split> (dev also answers to eval)."""
    root = Path(root).expanduser()
    if (root / "index.json").is_file():
        return root
    names = [split] if split else []
    names += sorted(SPLIT_ALIASES.get(split or "", set()) - set(names))
    for name in names:
        if (root / name / "index.json").is_file():
            return root / name
    raise InputError(f"no prepared data in {root} (no index.json there or in {names}): run `avfr prepare RAW_DIR {root / (split or 'train')}` first")


class PreparedDataset(Dataset):
    """Pairs from one prepared folder at one size: a stored size, or a smaller one, resized from
    the smallest stored size above it (with prepare's resize, so it is what prepare would store)."""

    def __init__(self, root: Path | str, size: int = 128, split: str | None = "train", augment: bool = True, min_found: int = 2) -> None:
        self.root = resolve_root(Path(root), split)
        index = json.loads((self.root / "index.json").read_text())
        larger = sorted(s for s in index["sizes"] if s >= size)
        if not larger:
            raise InputError(f"{self.root} was prepared at sizes {index['sizes']}, none as large as {size}: prepare with --sizes {size}")
        self.size, self.stored_size, self.augment = size, larger[0], augment
        self.fps = float(index["fps"])
        self.landmark_scale = int(index.get("landmark_scale", 2048))
        entries = index["clips"]
        if split and (self.root / "index.json").parent == Path(root).expanduser():
            wanted = SPLIT_ALIASES.get(split, {split})
            if any(e["split"] in wanted for e in entries):
                entries = [e for e in entries if e["split"] in wanted]
        self.clips: list[_Clip] = [self._load_clip(e) for e in entries]
        self.shots: list[ShotRef] = [ref for ci, c in enumerate(self.clips) for ref in self._shot_refs(ci, c, min_found)]
        if not self.shots:
            raise InputError(f"{self.root} holds no shot with {min_found}+ face frames: prepare more clips")

    def _load_clip(self, entry: dict) -> _Clip:
        directory = self.root / "clips" / entry["id"]
        with np.load(directory / "meta.npz") as z:
            landmarks = decode_landmarks(z["landmarks"], self.landmark_scale).astype(np.float16)
            mel = z["mel"] if "mel" in z.files else None
            found = z["found"].astype(bool)
        return _Clip(entry=entry, directory=directory, landmarks=landmarks, found=found, mel=mel)

    @staticmethod
    def _shot_refs(ci: int, clip: _Clip, min_found: int) -> list[ShotRef]:
        refs = []
        for k, s in enumerate(clip.entry["shots"]):
            good = np.flatnonzero(clip.found[s["start"] : s["end"]]) + s["start"]
            if len(good) >= min_found:
                refs.append(ShotRef(ci, k, s["start"], s["end"], clip.entry["identity"], good))
        return refs

    def __len__(self) -> int:
        return len(self.shots)

    @property
    def identities(self) -> list[str]:
        return sorted({s.identity for s in self.shots})

    def sample_weights(self) -> np.ndarray:
        """Per-item weights: each identity sums to the same, shared among its shots by face frames."""
        frames_per_id: dict[str, int] = {}
        for s in self.shots:
            frames_per_id[s.identity] = frames_per_id.get(s.identity, 0) + len(s.good)
        w = np.array([len(s.good) / frames_per_id[s.identity] for s in self.shots], np.float64)
        return w / w.sum()

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | str]:
        """`key` is a shot index, or (shot index, seed): a seeded item is the same item in any
        process or DataLoader worker, which is what makes a resumed or DDP run repeatable."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        ref = self.shots[index]
        clip = self.clips[ref.clip]
        picks = torch.randint(len(ref.good), (2,), generator=gen).tolist()
        src_i, drv_i = int(ref.good[picks[0]]), int(ref.good[picks[1]])
        frames = read_shot_frames(self.shot_path(ref), [src_i - ref.start, drv_i - ref.start])
        flip = self.augment and bool(torch.rand((), generator=gen) < 0.5)
        jitter = _jitter_params(gen) if self.augment else None
        source_lm = _oriented_landmarks(clip.landmarks[src_i], flip)
        driving_lm = _oriented_landmarks(clip.landmarks[drv_i], flip)
        source = self.model_input(frames[0], source_lm, flip, jitter)
        driving = self.model_input(frames[1], driving_lm, flip, jitter)
        if clip.mel is not None:
            mel = audio_features.mel_window(clip.mel, drv_i, fps=self.fps)
        else:
            mel = audio_features.silence_window()
        return {
            "source": source,
            "driving": driving,
            "mel": torch.from_numpy(mel)[None],
            "source_landmarks": torch.from_numpy(source_lm),
            "driving_landmarks": torch.from_numpy(driving_lm),
            "identity": ref.identity,
        }

    def shot_path(self, ref: ShotRef) -> Path:
        return self.clips[ref.clip].directory / f"shot{ref.shot:02d}_{self.stored_size}.mp4"

    def model_input(self, rgb: np.ndarray, landmarks: np.ndarray, flip: bool, jitter: np.ndarray | None) -> torch.Tensor:
        """5-channel input; ``landmarks`` are already flipped with the frame (``_oriented_landmarks``)."""
        rgb = resize_rgb(rgb, self.size)
        if flip:
            rgb = rgb[:, ::-1]
        pixels = landmarks.astype(np.float32) * self.size
        out = np.empty((5, self.size, self.size), np.float32)
        out[:3] = rgb.transpose(2, 0, 1) * np.float32(1 / 255)
        if jitter is not None:
            out[:3] = _colour_jitter(out[:3], jitter)
        out[3] = render_mesh(pixels, self.size)
        out[4] = face_oval_mask(pixels, self.size)
        return torch.from_numpy(out)


def _oriented_landmarks(landmarks: np.ndarray, flip: bool) -> np.ndarray:
    """float32 ``[468, 2]`` fractions of the crop, mirrored with a flipped frame."""
    lm = landmarks.astype(np.float32)
    if flip:
        lm = np.stack([1.0 - lm[:, 0], lm[:, 1]], axis=1)
    return lm


def _jitter_params(generator: torch.Generator | None = None) -> np.ndarray:
    """(brightness, contrast, saturation) factors in [0.9, 1.1]."""
    return 0.9 + 0.2 * torch.rand(3, generator=generator).numpy()


def _colour_jitter(rgb: np.ndarray, params: np.ndarray) -> np.ndarray:
    brightness, contrast, saturation = (np.float32(p) for p in params)
    x = rgb * brightness
    x = (x - x.mean()) * contrast + x.mean()
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    x = (x - grey) * saturation + grey
    return np.clip(x, 0.0, 1.0)


def read_shot_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    """RGB frames at the given indices of a constant-rate shot mp4 (seek to the keyframe, decode on)."""
    wanted = sorted(set(indices))
    got = _pyav_frames(path, wanted) if av is not None else _opencv_frames(path, wanted)
    missing = [i for i in wanted if i not in got]
    if missing:
        raise InputError(f"{path} lacks frames {missing}: the prepared data is incomplete, prepare it again")
    return [got[i] for i in indices]


def _pyav_frames(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or 25)
            for target in wanted:
                if target in got:
                    continue
                container.seek(int(target / rate / stream.time_base) + (stream.start_time or 0), stream=stream, backward=True)
                for frame in container.decode(stream):
                    i = int(round(float(frame.time) * rate))
                    if i in wanted and i not in got:
                        got[i] = frame.to_ndarray(format="rgb24")
                    if i >= target:
                        break
    except av.FFmpegError as exc:
        raise InputError(f"cannot decode {path} ({exc}): prepare the data again") from None
    return got


def _opencv_frames(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """The same frames through OpenCV, for machines without PyAV (a lent GPU machine has OpenCV
    but no PyAV, and training goes there first). Both decode with FFmpeg and convert with its
    swscale: on the prepared shots the frames are equal to the last bit (tests/codec/training/
    test_dataset.py). One decoder thread: the DataLoader's workers are the parallelism."""
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not capture.isOpened():
        raise InputError(f"cannot decode {path} (OpenCV cannot open it): prepare the data again")
    got: dict[int, np.ndarray] = {}
    try:
        for i in wanted:
            if capture.get(cv2.CAP_PROP_POS_FRAMES) != i:
                capture.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, bgr = capture.read()
            if ok:
                got[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
    return got


def identity_balanced_sampler(dataset: PreparedDataset, num_samples: int, generator: torch.Generator | None = None) -> WeightedRandomSampler:
    """A DataLoader sampler drawing items with :meth:`PreparedDataset.sample_weights`."""
    return WeightedRandomSampler(torch.from_numpy(dataset.sample_weights()), num_samples=num_samples, replacement=True, generator=generator)


__all__ = ["PreparedDataset", "ShotRef", "identity_balanced_sampler", "read_shot_frames", "resolve_root"]
