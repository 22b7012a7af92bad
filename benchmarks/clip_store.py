"""Per-clip results of a long benchmark run, kept on disk so that an interrupted run resumes.

A full ``benchmarks.rd`` run on the dev set takes hours on one core, while a clip takes
minutes; a stop, a crash or the end of a working session should cost one clip, not the run.
Each clip's record, its FID features (FID is computed over the whole set at the end, so the
features are what must survive) and what it cost are written as the clip finishes. A resumed
run takes a clip back only when its fingerprint matches: the run's settings, the model file
and the clip file, all hashed. A table therefore never mixes two models or two settings; a
stale clip is simply run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from codec.model import file_sha256

FORMAT = 1  # bump when a stored clip's layout changes: older files are then ignored


@dataclass
class StoredClip:
    """One finished clip: its record in the results JSON, its FID features per codec point, and
    its share of the run's timing (so a resumed run's projections still add up)."""

    record: dict
    features: dict[str, np.ndarray]
    costs: dict[str, dict] = field(default_factory=dict)  # timing, metric seconds and frames, made_at (git)


class ClipStore:
    """The folder of one run's finished clips: ``<clip>.json`` (record, costs, fingerprint) and
    ``<clip>.npz`` (features). The JSON is written last, so a clip interrupted while being stored
    has no JSON and counts as not done."""

    def __init__(self, folder: Path, settings: dict[str, object]) -> None:
        self.folder = folder
        self.settings_digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()

    def fingerprint(self, clip: Path) -> str:
        return hashlib.sha256(f"{FORMAT}:{self.settings_digest}:{file_sha256(clip)}".encode()).hexdigest()

    def _paths(self, clip: Path) -> tuple[Path, Path]:
        return self.folder / f"{clip.name}.json", self.folder / f"{clip.name}.npz"

    def load(self, clip: Path) -> StoredClip | None:
        """The clip's stored result, or None when there is none or it was made another way."""
        meta_path, features_path = self._paths(clip)
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict) or meta.get("fingerprint") != self.fingerprint(clip):
                return None
            with np.load(features_path, allow_pickle=False) as npz:
                features = {key: npz[key] for key in npz.files}
            return StoredClip(meta["record"], features, meta.get("costs", {}))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # cut off or damaged: run the clip again
            return None

    def save(self, clip: Path, stored: StoredClip) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path, features_path = self._paths(clip)
        meta_path.unlink(missing_ok=True)  # until the new JSON lands, the clip is not done
        tmp = features_path.with_suffix(".tmp.npz")
        with tmp.open("wb") as f:
            np.savez(f, **stored.features)
            _sync(f)
        os.replace(tmp, features_path)
        meta = {"fingerprint": self.fingerprint(clip), "record": stored.record, "costs": stored.costs}
        tmp_meta = meta_path.with_suffix(".tmp")
        with tmp_meta.open("w") as f:
            f.write(json.dumps(meta, default=_plain) + "\n")
            _sync(f)
        os.replace(tmp_meta, meta_path)


def _sync(f: IO) -> None:
    """On disk before the rename, so a power cut leaves the old file or the whole new one."""
    f.flush()
    os.fsync(f.fileno())


def _plain(v: object) -> object:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v)}")
