"""A tiny prepared set written without MediaPipe: synthetic shots in prepare's mp4 format and
made-up landmarks, for tests of what reads prepared data (seconds, not a real `avfr prepare`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codec.media import video_io
from codec.training.landmark_codes import encode_landmarks

SIZE, FPS, RATE = 64, 25.0, 16000


def shot_frames(frames: int, size: int = SIZE, seed: int = 0) -> list[np.ndarray]:
    """Frame i: a colour gradient with a bright column at x = i % size, so a frame read for
    another (a seek off by one) is told apart."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([x, y, 0.5 * (x + y)], axis=-1) * rng.uniform(60, 140, 3) + 30
    out = []
    for i in range(frames):
        frame = base.copy()
        frame[:, i % size] = 235
        out.append(frame.astype(np.uint8))
    return out


def write_shot(path: Path, frames: int, size: int = SIZE, seed: int = 0, audio: bool = True) -> list[np.ndarray]:
    """A shot mp4 as prepare writes it (H.264 crf 16, a keyframe every 25 frames, AAC); its frames."""
    rgb = shot_frames(frames, size, seed)
    config = video_io.WriterConfig(crf=16, preset="fast", gop=25)
    with video_io.VideoWriter(path, fps=FPS, audio_sample_rate=RATE if audio else None, config=config) as writer:
        per_frame = int(RATE / FPS)
        for i, frame in enumerate(rgb):
            writer.write(frame)
            if audio:
                t = (np.arange(per_frame) + i * per_frame) / RATE
                writer.write_audio(0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32))
    return rgb


def write_clip(root: Path, clip_id: str, identity: str, split: str, frames: int, seed: int) -> dict:
    """One clip of one shot: mp4, meta.npz (landmarks around the centre, all found, a mel) and clip.json."""
    rng = np.random.default_rng(seed)
    directory = root / "clips" / clip_id
    directory.mkdir(parents=True)
    write_shot(directory / f"shot00_{SIZE}.mp4", frames, seed=seed)
    landmarks = 0.5 + 0.25 * (rng.random((frames, 468, 2), np.float32) - 0.5)
    mel = rng.uniform(-1, 1, (80, frames * 4)).astype(np.float16)
    np.savez_compressed(directory / "meta.npz", landmarks=encode_landmarks(landmarks), found=np.ones(frames, bool), mel=mel)
    entry = {"id": clip_id, "file": f"{clip_id}.mp4", "identity": identity, "split": split, "n_frames": frames, "has_audio": True,
             "shots": [{"start": 0, "end": frames, "box": [0, 0, SIZE, SIZE], "found": frames}]}  # fmt: skip
    (directory / "clip.json").write_text(json.dumps(entry))
    return entry


def write_prepared(root: Path, clips: list[tuple[str, str]], split: str = "train", frames: int = 30) -> Path:
    """A prepared folder at 64 px of (clip id, identity) clips."""
    entries = [write_clip(root, cid, identity, split, frames, seed) for seed, (cid, identity) in enumerate(clips)]
    index = {"format_version": 1, "sizes": [SIZE], "fps": FPS, "sample_rate": RATE, "landmark_scale": 2048, "clips": entries}
    (root / "index.json").write_text(json.dumps(index))
    return root
