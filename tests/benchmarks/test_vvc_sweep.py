"""The VVC anchor sweep in its smoke size, on real VVenC and a real dev clip: candidates, BD-rates, a choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.vvc_sweep import SweepConfig, candidates, choice_key, run


def test_candidates_change_one_setting_at_a_time() -> None:
    c = candidates()
    base = c[0]
    assert base.preset == "faster" and base.intra_period_s is None
    for other in c[1:]:
        changed = [k for k in ("preset", "intra_period_s", "perceptual_qpa") if getattr(other, k) != getattr(base, k)]
        assert len(changed) == 1


def test_smoke_sweep(talking_heads: Path, metric_weights: None, tmp_path: Path) -> None:
    from benchmarks.vvc import AnchorError, check_ffmpeg

    try:
        check_ffmpeg()
    except AnchorError as exc:
        pytest.skip(str(exc))
    cfg = SweepConfig.smoke()
    cfg.data, cfg.out = talking_heads / "dev", tmp_path
    result = run(cfg)
    base = result["candidates"][0]
    assert base["bd_rate_vs_default"]["lpips"] == pytest.approx(0.0, abs=1e-9)  # the default against itself
    assert result["chosen"] in [r["label"] for r in result["candidates"]]
    assert choice_key(next(r for r in result["candidates"] if r["label"] == result["chosen"])) <= choice_key(base)
    assert (tmp_path / "vvc_anchor-smoke.md").read_text().count("|") > 10 and (tmp_path / "vvc_anchor-smoke.png").is_file()
