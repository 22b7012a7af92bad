"""The speed benchmark runs end to end on a real clip and says what it skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.speed import main


@pytest.mark.data
def test_speed_writes_every_stage_and_reports_missing_cuda(dev_clip: Path, tmp_path: Path) -> None:
    argv = ["--clip", str(dev_clip), "--frames", "8", "--threads", "1", "--batches", "1,2", "--out", str(tmp_path)]
    assert main(argv) == 0
    r = json.loads((tmp_path / "speed.json").read_text())
    assert r["frames"] == 8
    for stage in ("face tracking + crop", "priors (face mesh, drawing)", "keypoint detector", "motion coding + packet"):
        assert r["sender"]["ms"][stage] > 0
    cpu = r["receiver"]["cpu-fp32"]
    for stage in ("dense motion", "generator", "source encoders (per keyframe)", "to uint8 RGB on host"):
        assert cpu["ms"][stage] > 0
    assert set(cpu["batched_fps"]) == {"1", "2"} and cpu["fps"] > 0
    if not torch.cuda.is_available():
        assert "skipped" in r["receiver"]["cuda"]
    assert "## Sender (CPU)" in (tmp_path / "speed.md").read_text()
    assert main(argv) == 2  # never overwrites without --force
