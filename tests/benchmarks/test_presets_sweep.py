"""Choosing presets: the best quality within each target rate; the sweep end to end at smoke size."""

from __future__ import annotations

from pathlib import Path

from benchmarks.presets import CANDIDATES, PresetSweepConfig, choose, preset_table_code, run


def cand(kbps: float, lpips: float) -> dict:
    return {"kbps": kbps, "lpips": lpips, "dists": 0.1, "psnr": 25.0, "settings": {"keyframe_quality": 29}, "label": f"{kbps}"}


def test_best_quality_within_each_target_and_the_floor() -> None:
    cands = [cand(3.5, 0.20), cand(5.0, 0.17), cand(7.0, 0.18), cand(12.0, 0.15), cand(28.0, 0.14)]
    chosen = choose(cands, (2, 8, 16, 30), "lpips")
    assert [c["kbps"] for c in chosen] == [3.5, 5.0, 12.0, 28.0]
    assert chosen[0]["floor"] and not any(c["floor"] for c in chosen[1:])


def test_the_grid_uses_existing_settings_only() -> None:
    assert len(CANDIDATES) == len(set(CANDIDATES)) >= 30
    for s in CANDIDATES:
        s.options()  # every candidate is a valid EncodeOptions


def test_smoke_sweep(talking_heads: Path, metric_weights: None, tmp_path: Path) -> None:
    cfg = PresetSweepConfig.smoke()
    cfg.data, cfg.out = talking_heads / "dev", tmp_path
    result = run(cfg)
    cheap, rich = result["candidates"]
    assert cheap["kbps"] < rich["kbps"]  # QP 47 and one keyframe cost less than QP 24
    assert [c["target_kbps"] for c in result["chosen"]] == [2.0, 30.0]
    assert 'Preset("30k", EncodeSettings(' in preset_table_code(result)
    assert (tmp_path / "presets-smoke.png").is_file()
