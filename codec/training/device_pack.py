"""``python -m codec.training.device_pack PREPARED [PACK]``: what a lent GPU machine needs to train.

Such a machine is lent by chance, for minutes, and goes to training first (scripts/device_run.sh).
Only the working tree travels there, with up to 8 git-ignored paths, 64 MiB in all (the tracked
files, ~33 MiB, included), and it has torch and OpenCV but no MediaPipe, PyAV or librosa, and no
network. So the pack, a git-ignored folder carried along (``device_pack/``), holds:

* ``index.json`` + ``clips/``: a subset of the prepared training clips, a valid prepared folder
  for ``avfr train --data PACK``. The loader needs none of the three: it re-draws the priors
  from the stored landmarks, reads the stored mel, and decodes the shots with OpenCV there.
* ``cache/converted/``: the LPIPS weights of the training losses (``AVFR_CACHE=PACK/cache``),
  which that machine could not fetch.
* ``receiver_inputs.safetensors``: precomputed receiver inputs from a few dev clips (5-channel
  keyframes, the bundled model's keypoints and mel windows per frame, and its CPU fp32 output
  on two frames), so ``benchmarks.cuda_receiver`` times the networks alone, without MediaPipe.

The clips: round-robin over identities (one clip of each, then a second of each, ...), with
identities and clips in the order of a hash of their names, each clip taken if it still fits
the budget. Deterministic, spread over as many people and source sets as fit, never picked by
a score.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from codec import audio_features
from codec.errors import AvfrError, InputError
from codec.losses.lpips import BACKBONES
from codec.losses.weights import WEIGHT_FILES, converted_dir, load_weights
from codec.training.dataset import PreparedDataset, read_shot_frames, resolve_root
from codec.zoo import default_model_path, load_for_encoding

MIB = 1 << 20
DEVICE_TREE_MIB = 64  # what one device run may send: working tree + carried paths
RECEIVER_INPUTS = "receiver_inputs.safetensors"


@dataclass
class PackConfig:
    """What goes into a pack; the defaults fit beside the working tree in one device run."""

    max_mib: float = 16.0  # the whole pack: clips, LPIPS weights, receiver inputs (the tracked tree is ~47 MiB with three runs' snapshots and three bundled models; 64 MiB travel)
    lpips_backbone: str = "alex"  # the training losses' (LossConfig.lpips_backbone)
    receiver_clips: int = 8  # dev clips of the fps check: its largest batch
    receiver_frames: int = 25  # driving frames per dev clip
    model: Path | None = None  # whose keypoints the receiver inputs hold; None: the bundled default


@dataclass
class PackReport:
    clips: int
    identities: int
    frames: int
    clip_mib: float
    total_mib: float

    def summary(self) -> str:
        return f"{self.clips} clips of {self.identities} identities, {self.frames} frames: {self.clip_mib:.1f} MiB of clips, {self.total_mib:.1f} MiB in all"


def _hash_order(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def choose_clips(entries: list[dict], clip_bytes: dict[str, int], budget: int) -> list[dict]:
    """Round-robin over identities in hash order, each clip taken while it fits ``budget`` bytes."""
    by_identity: dict[str, list[dict]] = {}
    for e in sorted(entries, key=lambda e: _hash_order(e["id"])):
        by_identity.setdefault(e["identity"], []).append(e)
    queues = [by_identity[k] for k in sorted(by_identity, key=_hash_order)]
    chosen, used = [], 0
    for depth in range(max((len(q) for q in queues), default=0)):
        for queue in queues:
            if depth < len(queue) and used + clip_bytes[queue[depth]["id"]] <= budget:
                chosen.append(queue[depth])
                used += clip_bytes[queue[depth]["id"]]
    return chosen


def copy_lpips_weights(backbone: str, pack: Path) -> int:
    """The converted LPIPS files into ``pack/cache/converted`` (converted here first if need be); bytes."""
    if backbone not in BACKBONES:
        raise InputError(f"lpips backbone must be one of {sorted(BACKBONES)}, not {backbone!r}")
    target = pack / "cache" / "converted"
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in BACKBONES[backbone][1:]:
        load_weights(name)  # converts into the local cache when it is not there yet
        source = converted_dir() / f"{name}-{WEIGHT_FILES[name].sha256}.safetensors"
        shutil.copyfile(source, target / source.name)
        total += source.stat().st_size
    return total


@torch.no_grad()
def receiver_inputs(dev: Path, out: Path, clips: int, frames: int, model_path: Path | None = None) -> int:
    """Keyframes (uint8 [N, 5, S, S]: the inputs are k/255 exactly), keypoints [N, T, K, 6], mel
    [N, T, 1, n_mels, W] and the CPU fp32 output on frame 0 of the first two clips; bytes written."""
    model_path = Path(model_path) if model_path is not None else default_model_path()
    model = load_for_encoding(model_path)
    size = model.config.image_size
    ds = PreparedDataset(dev, size=size, split="dev", augment=False, min_found=frames + 1)
    picked, seen = [], set()
    for ref in sorted(ds.shots, key=lambda r: ds.clips[r.clip].entry["id"]):
        if ref.identity not in seen:
            picked.append(ref)
            seen.add(ref.identity)
    if len(picked) < clips:
        raise InputError(f"{dev} has {len(picked)} identities with a shot of {frames + 1}+ face frames, not {clips}: give fewer --receiver-clips or frames")
    sources, keypoints, mels = [], [], []
    for ref in picked[:clips]:
        clip = ds.clips[ref.clip]
        index = [int(i) for i in ref.good[: frames + 1]]
        rgb = read_shot_frames(ds.shot_path(ref), [i - ref.start for i in index])
        x5 = torch.stack([ds.model_input(f, clip.landmarks[i].astype(np.float32), False, None) for f, i in zip(rgb, index)])
        sources.append(x5[0])
        keypoints.append(model.keypoints(x5[1:]))
        window = [audio_features.mel_window(clip.mel, i, fps=ds.fps) if clip.mel is not None else audio_features.silence_window() for i in index[1:]]
        mels.append(torch.from_numpy(np.stack(window))[:, None])
    source = torch.stack(sources)
    kp, mel = torch.stack(keypoints), torch.stack(mels)
    reference = model.reconstruct(model.encode_source(source[:2]), kp[:2, 0], mel[:2, 0])
    tensors = {
        "source": (source * 255).round().to(torch.uint8),
        "keypoints": kp.float().contiguous(),
        "mel": mel.half().contiguous(),
        "reference_output": reference.half().contiguous(),
    }
    meta = {"model": model_path.name, "model_sha256": model.weights_sha256 or "", "clips": json.dumps([ds.clips[r.clip].entry["id"] for r in picked[:clips]])}
    save_file(tensors, str(out), metadata=meta)
    return out.stat().st_size


def _travelling_mib(repo: Path) -> float | None:
    """MiB of the files a device run sends besides carried paths (tracked + untracked, not ignored)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = [repo / p for p in listed.decode().split("\0") if p]
    return sum(p.stat().st_size for p in paths if p.is_file()) / MIB


def build_pack(prepared: Path, pack: Path, dev: Path | None = None, cfg: PackConfig | None = None) -> PackReport:
    """Write the pack (``pack`` must be absent or empty) and say what is in it."""
    cfg = cfg or PackConfig()
    root = resolve_root(Path(prepared), "train")
    dev = resolve_root(Path(dev) if dev is not None else Path(prepared) / "dev", "dev")
    pack = Path(pack)
    if pack.exists() and any(pack.iterdir()):
        raise InputError(f"{pack} is not empty: remove it, or give another folder")
    pack.mkdir(parents=True, exist_ok=True)
    fixed = copy_lpips_weights(cfg.lpips_backbone, pack)
    fixed += receiver_inputs(dev, pack / RECEIVER_INPUTS, cfg.receiver_clips, cfg.receiver_frames, cfg.model)
    index = json.loads((root / "index.json").read_text())
    entries = [e for e in index["clips"] if e["split"] == "train"]
    sizes = {e["id"]: _folder_bytes(root / "clips" / e["id"]) for e in entries}
    budget = int(cfg.max_mib * MIB) - fixed - 64 * 1024  # the index: a few kB
    if budget <= 0:
        raise InputError(f"--max-mib {cfg.max_mib} leaves no room for clips beside {fixed / MIB:.1f} MiB of weights and receiver inputs: give more")
    chosen = choose_clips(entries, sizes, budget)
    if not chosen:
        raise InputError(f"no training clip of {root} fits in {budget / MIB:.1f} MiB: give a larger --max-mib")
    for e in chosen:
        shutil.copytree(root / "clips" / e["id"], pack / "clips" / e["id"])
    packed = {k: v for k, v in index.items() if k != "clips"}
    packed["device_pack"] = {"source": str(root), "max_mib": cfg.max_mib, "of_clips": len(entries)}
    (pack / "index.json").write_text(json.dumps({**packed, "clips": chosen}, indent=1))
    PreparedDataset(pack, size=min(index["sizes"]), split="train", augment=False)  # it opens as a training set
    clip_bytes = sum(sizes[e["id"]] for e in chosen)
    frames = sum(s["end"] - s["start"] for e in chosen for s in e["shots"])
    return PackReport(len(chosen), len({e["identity"] for e in chosen}), frames, clip_bytes / MIB, _folder_bytes(pack) / MIB)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prepared", type=Path, help="a prepared training set (avfr prepare)")
    parser.add_argument("pack", type=Path, nargs="?", default=Path("device_pack"), help="the pack folder, absent or empty (default: device_pack, git-ignored)")
    parser.add_argument("--dev", type=Path, default=None, help="the prepared dev set of the receiver inputs (default: PREPARED/dev)")
    parser.add_argument("--max-mib", type=float, default=PackConfig.max_mib, help="the whole pack's size bound")
    parser.add_argument("--lpips", default=PackConfig.lpips_backbone, choices=sorted(BACKBONES), help="the training losses' LPIPS backbone")
    parser.add_argument("--model", type=Path, default=None, help="the model of the receiver inputs' keypoints (default: the bundled one)")
    args = parser.parse_args(argv)
    try:
        report = build_pack(args.prepared, args.pack, args.dev, PackConfig(max_mib=args.max_mib, lpips_backbone=args.lpips, model=args.model))
    except AvfrError as err:
        print(f"device_pack: {err}", file=sys.stderr)
        return 1
    print(f"{args.pack}: {report.summary()}")
    tree = _travelling_mib(Path.cwd())
    if tree is not None:
        total = tree + report.total_mib
        verdict = "fits" if total <= DEVICE_TREE_MIB - 1 else "does NOT fit: give a smaller --max-mib"
        print(f"with the {tree:.1f} MiB of the working tree a device run sends {total:.1f} MiB of its {DEVICE_TREE_MIB}: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
