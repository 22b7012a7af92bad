"""`avfr train`: the paper's recipe (Adam, step drops, L1 + LPIPS + equivariance + GAN) at our scale.

One loop serves every setting: CPU or CUDA (mixed precision there), one process or several
under torchrun (DDP). Batches are drawn by :class:`StepBatchSampler`, which derives each
step's global batch from (seed, step) alone, so a resumed run sees exactly the batches an
uninterrupted one would, and each DDP rank takes its slice of the same global batch.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler

from codec.config import load_config, read_preset
from codec.defaults import PREPARED_DATA
from codec.errors import AvfrError
from codec.model import AVFRModel, pick_device, save_model
from codec.networks.discriminator import Discriminator
from codec.progress import progress_bar
from codec.training.checkpoint import load_checkpoint, save_checkpoint
from codec.training.dataset import PreparedDataset
from codec.training.full_model import DiscriminatorFullModel, GeneratorFullModel
from codec.training.loss_config import LossConfig, move_retired_overrides
from codec.training.samples import save_sample_grid
from codec.training.snapshot import fast_forward, load_snapshot, save_snapshot, warm_start

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs" / "train"


@dataclass
class TrainConfig:
    """Everything about a training run that is not the network itself."""

    model: str = "light-128"
    data: str = PREPARED_DATA
    run_dir: str = "runs/light-128"
    steps: int = 20000
    batch_size: int = 4
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # The paper drops the rate at epochs 60 and 90 of ~100: the same fractions of our steps.
    lr_milestones: tuple[float, float] = (0.6, 0.9)
    lr_gamma: float = 0.1
    gan_start_step: int = 0
    augment: bool = True
    num_workers: int = 1
    seed: int = 0
    log_every: int = 25
    sample_every: int = 500
    checkpoint_every: int = 250
    export_every: int = 1000
    amp: bool = True
    cpu_bf16: bool = False  # bf16 autocast on the CPU too (measured: benchmarks/results/train_speed.md)
    threads: int | None = None  # torch threads (1 beside other work on a 2-core machine)
    max_seconds: float | None = None
    # share of each batch whose mouth motion is withheld, so only the speech explains the mouth
    mouth_dropout: float = 0.0
    # warm start: a model file whose tensors of matching name and shape seed the new model
    init_from: str | None = None
    # the compact resumable snapshot (fp16 G + D, step; codec.training.snapshot), rewritten in place
    snapshot: str | None = None
    snapshot_every: int = 500
    # changes to the model preset's architecture (codec/configs/<model>.yaml)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    losses: LossConfig = field(default_factory=LossConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Also reads the configs written before the loss settings left the model config."""
        values = move_retired_overrides(values)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise AvfrError(f"unknown training option(s) {sorted(unknown)}: the options are {sorted(known)}")
        values = dict(values)
        for key in ("betas", "lr_milestones"):
            if key in values:
                values[key] = tuple(values[key])
        values["losses"] = LossConfig.from_dict(values.get("losses") or {})
        return cls(**values)

    def override(self, key: str, value: Any) -> None:
        """``--override KEY=VALUE``: a loss setting, or else a change to the model's architecture."""
        if key in {f.name for f in fields(LossConfig)}:
            self.losses = replace(self.losses, **{key: value})
        else:
            self.model_overrides[key] = value


def load_train_config(name_or_path: str) -> TrainConfig:
    """A training config by name (``codec/configs/train/<name>.yaml``) or path."""
    return TrainConfig.from_dict(read_preset(name_or_path, CONFIG_DIR, "training config")[1])


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Identity-balanced batches that depend only on (seed, step): exact resume and DDP slicing."""

    def __init__(self, weights: np.ndarray, batch_size: int, start_step: int, steps: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if batch_size % world:
            raise AvfrError(f"batch size {batch_size} does not split over {world} processes: use a multiple of {world}")
        self.p = np.asarray(weights, np.float64) / np.sum(weights)
        self.batch_size, self.start_step, self.steps = batch_size, start_step, steps
        self.seed, self.rank, self.world = seed, rank, world

    def batch_for_step(self, step: int) -> list[tuple[int, int]]:
        """This rank's slice of the step's global batch, as (item, item seed) pairs."""
        rng = np.random.default_rng([self.seed, step])
        batch = rng.choice(len(self.p), size=self.batch_size, replace=True, p=self.p)
        seeds = rng.integers(0, 2**62, size=self.batch_size)
        per_rank = self.batch_size // self.world
        lo, hi = self.rank * per_rank, (self.rank + 1) * per_rank
        return [(int(i), int(s)) for i, s in zip(batch[lo:hi], seeds[lo:hi])]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.steps):
            yield self.batch_for_step(step)

    def __len__(self) -> int:
        return max(self.steps - self.start_step, 0)


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group when launched under torchrun; a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def pick_train_device(name: str, info_local_rank: int = 0) -> torch.device:
    """:func:`codec.model.pick_device`; plain CUDA is this process' GPU under torchrun."""
    device = pick_device(name)
    if device.type == "cuda" and device.index is None:
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', info_local_rank))}")
    return device


def seed_step(seed: int, step: int, rank: int) -> None:
    """Per-step seeding of the global RNGs: random augmentation and losses repeat on resume."""
    s = (seed * 1_000_003 + step * 97 + rank) % (2**31)
    torch.manual_seed(s)
    np.random.seed(s)


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """bf16 autocast pays on the CPU only with bf16 instructions: on an AVX2-only EPYC a light-256
    step took ~90 s with it against ~6 s in fp32. Unknown platforms count as without."""
    try:
        flags = cpuinfo.read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Trainer:
    def __init__(self, cfg: TrainConfig, device: torch.device, dist_info: DistInfo) -> None:
        self.cfg, self.device, self.dist = cfg, device, dist_info
        self.model_config = load_config(cfg.model, cfg.model_overrides)
        self.model = AVFRModel(self.model_config).to(device)
        self.discriminator = Discriminator(self.model_config).to(device)
        self.gen_full = GeneratorFullModel(self.model, self.discriminator, cfg.losses, mouth_dropout=cfg.mouth_dropout).to(device)
        self.disc_full = DiscriminatorFullModel(self.discriminator, cfg.losses).to(device)
        self.opt_g = torch.optim.Adam(self.model.parameters(), lr=cfg.lr_generator, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_discriminator, betas=cfg.betas)
        self.sched_g, self.sched_d = self._schedulers()
        # bf16 autocast: no loss scaling needed, unlike fp16. On the CPU only when asked, and only
        # where the CPU has bf16 instructions.
        cpu_bf16 = cfg.amp and cfg.cpu_bf16 and device.type == "cpu"
        if cpu_bf16 and not cpu_has_native_bf16():
            print("train: this CPU has no native bf16 (avx512_bf16/amx_bf16), where autocast is ~15x slower: training in fp32")
            cpu_bf16 = False
        self.use_amp = cfg.amp and (device.type == "cuda" or cpu_bf16)
        if dist_info.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.gen_train: torch.nn.Module = DistributedDataParallel(self.gen_full, device_ids=ids, find_unused_parameters=True)
            self.disc_train: torch.nn.Module = DistributedDataParallel(self.disc_full, device_ids=ids, find_unused_parameters=True)
        else:
            self.gen_train, self.disc_train = self.gen_full, self.disc_full
        self.run_dir = Path(cfg.run_dir).expanduser()
        self.step = 0

    def _schedulers(self) -> tuple[Any, Any]:
        milestones = [int(f * self.cfg.steps) for f in self.cfg.lr_milestones]
        return (
            torch.optim.lr_scheduler.MultiStepLR(self.opt_g, milestones, gamma=self.cfg.lr_gamma),
            torch.optim.lr_scheduler.MultiStepLR(self.opt_d, milestones, gamma=self.cfg.lr_gamma),
        )

    def _schedule_from_config(self) -> None:
        """The learning rate is a function of (config, step): a run resumed under an edited
        schedule follows the edit, while Adam's moments carry over (no restart shock)."""
        for opt, lr in ((self.opt_g, self.cfg.lr_generator), (self.opt_d, self.cfg.lr_discriminator)):
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] = lr
        self.sched_g, self.sched_d = self._schedulers()
        fast_forward(self.sched_g, self.step)
        fast_forward(self.sched_d, self.step)

    # ---- state -------------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict, dict]:
        return (
            {"model": self.model, "discriminator": self.discriminator},
            {"generator": self.opt_g, "discriminator": self.opt_d},
            {"generator": self.sched_g, "discriminator": self.sched_d},
        )

    def save(self) -> None:
        if not self.dist.main:
            return
        modules, opts, scheds = self._state()
        save_checkpoint(self.run_dir / "last.safetensors", modules, opts, scheds, self.step, extra={"train_config": _jsonable(asdict(self.cfg))})

    def resume(self) -> bool:
        """From the run folder's full checkpoint, else from the compact snapshot; False if neither."""
        modules, opts, scheds = self._state()
        if (self.run_dir / "last.safetensors").exists():
            meta = load_checkpoint(self.run_dir / "last.safetensors", modules, opts, scheds)
            self.step = int(meta["step"])
            self._schedule_from_config()
            return True
        if self.cfg.snapshot and Path(self.cfg.snapshot).expanduser().exists():
            self.step = load_snapshot(Path(self.cfg.snapshot).expanduser(), modules, scheds)
            return True
        return False

    def save_snapshot(self) -> None:
        if self.dist.main and self.cfg.snapshot:
            modules, _, _ = self._state()
            save_snapshot(Path(self.cfg.snapshot).expanduser(), modules, self.step, _jsonable(asdict(self.cfg)))

    def export(self, name: str) -> Path:
        """The shippable model: generator side only, fp16 safetensors."""
        path = self.run_dir / name
        if self.dist.main:
            save_model(self.model, path, extra_metadata={"train_step": str(self.step)}, dtype=torch.float16)
        return path

    # ---- one step ------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        use_gan = self.step >= self.cfg.gan_start_step
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.use_amp else nullcontext()
        self.model.train()
        with autocast:
            gen_losses, generated = self.gen_train(batch, use_gan=use_gan)
            loss_g = sum(gen_losses.values())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        logs = {k: float(v.detach()) for k, v in gen_losses.items()}
        if use_gan:
            with autocast:
                disc_losses = self.disc_train(batch, generated)
                loss_d = sum(disc_losses.values())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            logs.update({k: float(v.detach()) for k, v in disc_losses.items()})
        self.sched_g.step()
        self.sched_d.step()
        logs["loss_total_g"] = float(loss_g.detach())
        return logs


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class RunLogger:
    """CSV always; TensorBoard when it is installed (it is in the `train` extra)."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.csv_path = run_dir / "log.csv"
        self.tb = None
        if enabled:
            run_dir.mkdir(parents=True, exist_ok=True)
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self.tb = None

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, **values}
        exists = self.csv_path.exists()
        header = list(row)
        if exists:
            with self.csv_path.open() as f:
                old = next(csv.reader(f), [])
            header = old + [k for k in row if k not in old]
        with self.csv_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
            if not exists:
                writer.writeheader()
            writer.writerow(row)
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def make_loader(cfg: TrainConfig, dataset: PreparedDataset, start_step: int, info: DistInfo) -> DataLoader:
    sampler = StepBatchSampler(dataset.sample_weights(), cfg.batch_size, start_step, cfg.steps, cfg.seed, info.rank, info.world)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=cfg.num_workers,
        persistent_workers=cfg.num_workers > 0,
        pin_memory=torch.cuda.is_available(),
    )


def train(cfg: TrainConfig, device_name: str = "auto", resume: bool = False, progress: bool = True) -> Path:
    """Run (or continue) a training run; returns the path of the exported model."""
    device = pick_train_device(device_name)
    info = init_distributed(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    trainer = Trainer(cfg, device, info)
    if not (resume and trainer.resume()) and cfg.init_from:
        warm_start(trainer.model, Path(cfg.init_from).expanduser())
    if info.main:
        trainer.run_dir.mkdir(parents=True, exist_ok=True)
        (trainer.run_dir / "train_config.yaml").write_text(yaml.safe_dump(_jsonable(asdict(cfg))))
    dataset = PreparedDataset(Path(cfg.data).expanduser(), size=trainer.model_config.image_size, split="train", augment=cfg.augment)
    loader = make_loader(cfg, dataset, trainer.step, info)
    logger = RunLogger(trainer.run_dir, info.main)
    bar = progress_bar(total=cfg.steps, initial=trainer.step, desc="train", unit="step", disable=not (progress and info.main))
    started, window_start, window_samples = time.time(), time.time(), 0
    sums: dict[str, float] = {}
    for batch in loader:
        seed_step(cfg.seed, trainer.step, info.rank)
        logs = trainer.train_step(batch)
        trainer.step += 1
        window_samples += cfg.batch_size
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + v
        bar.update(1)
        if trainer.step % cfg.log_every == 0:
            elapsed = time.time() - window_start
            means = {k: v / cfg.log_every for k, v in sums.items()}
            means["samples_per_s"] = window_samples / max(elapsed, 1e-9)
            means["lr"] = trainer.opt_g.param_groups[0]["lr"]
            logger.log(trainer.step, means)
            bar.set_postfix(loss=f"{means.get('loss_total_g', math.nan):.3f}", sps=f"{means['samples_per_s']:.1f}")
            sums, window_start, window_samples = {}, time.time(), 0
        if info.main and trainer.step % cfg.sample_every == 0:
            save_sample_grid(trainer.model, batch, trainer.run_dir / "samples" / f"step{trainer.step:07d}.png", device)
        if trainer.step % cfg.checkpoint_every == 0:
            trainer.save()
        if trainer.step % cfg.snapshot_every == 0:
            trainer.save_snapshot()
        if trainer.step % cfg.export_every == 0:
            trainer.export(f"model-step{trainer.step:07d}.safetensors")
        if cfg.max_seconds is not None and time.time() - started > cfg.max_seconds:
            break
    bar.close()
    trainer.save()
    trainer.save_snapshot()
    logger.close()
    path = trainer.export("model.safetensors")
    if info.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return path


def export_checkpoint(run_dir: Path, output: Path) -> Path:
    """The shippable fp16 model from a run's last checkpoint (e.g. after stopping a run by hand)."""
    from safetensors import safe_open

    run_dir = Path(run_dir).expanduser()
    cfg = TrainConfig.from_dict(yaml.safe_load((run_dir / "train_config.yaml").read_text()))
    model = AVFRModel(load_config(cfg.model, cfg.model_overrides))
    with safe_open(str(run_dir / "last.safetensors"), framework="pt") as f:
        step = json.loads(f.metadata()["avfr_checkpoint"])["step"]
        prefix = "module.model."
        model.load_state_dict({k[len(prefix) :]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)})
    save_model(model, output, extra_metadata={"train_step": str(step)}, dtype=torch.float16)
    return Path(output)


def train_from_cli(args: argparse.Namespace) -> int:
    if args.export_to is not None:
        run_dir = args.run_dir or Path(load_train_config(args.config).run_dir)
        print(f"exported {export_checkpoint(run_dir, args.export_to)}")
        return 0
    cfg = load_train_config(args.config)
    if args.data is not None:
        cfg.data = str(args.data)
    if args.run_dir is not None:
        cfg.run_dir = str(args.run_dir)
    if args.steps is not None:
        cfg.steps = args.steps
    if args.batch_size is not None:
        cfg.batch_size = args.batch_size
    for item in args.override:
        key, sep, value = item.partition("=")
        if not sep:
            raise AvfrError(f"--override takes KEY=VALUE, not {item!r}")
        cfg.override(key, yaml.safe_load(value))
    path = train(cfg, device_name=args.device, resume=args.resume)
    print(f"trained model written to {path}")
    return 0
