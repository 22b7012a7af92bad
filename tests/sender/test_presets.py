"""Encoder presets: one table, flags over the preset, the library defaults for the rest."""

from __future__ import annotations

import pytest

from avfr.cli import build_parser, encode_options
from codec.bitstream.compact_motion import CompactMotionParams
from codec.errors import InputError
from sender.presets import PRESETS, EncodeSettings, preset, presets_table, resolve
from sender.refresh import RefreshConfig


def options_for(*flags: str):  # noqa: ANN202
    args = build_parser().parse_args(["encode", "in.mp4", "-o", "out.avfr", *flags])
    return encode_options(args)


def test_at_least_five_presets_from_low_to_high_rate() -> None:
    assert len(PRESETS) >= 5
    rates = [p.measured_kbps for p in PRESETS.values()]
    assert all(r is not None for r in rates), "every preset comes from a measurement (benchmarks.presets)"
    assert rates == sorted(rates) and rates[0] < rates[-1]


def test_no_preset_gives_the_library_defaults() -> None:
    o = options_for()
    assert o.compact_motion == CompactMotionParams() and o.refresh == RefreshConfig()
    assert o.keyframe_quality is None and o.target_kbps is None


def test_preset_sets_its_settings() -> None:
    s = PRESETS["2k"].settings
    o = options_for("--preset", "2k")
    assert o.keyframe_quality == s.keyframe_quality
    assert (o.compact_motion.position_step_inv, o.compact_motion.jacobian_step_inv) == (s.position_step_inv, s.jacobian_step_inv)
    assert o.refresh.enabled is (RefreshConfig().enabled if s.refresh is None else s.refresh)
    for name, entry in PRESETS.items():  # the refresh settings too, whatever the measured table holds
        r, t = options_for("--preset", name).refresh, entry.settings
        assert r.enabled is (RefreshConfig().enabled if t.refresh is None else t.refresh), name
        assert r.min_interval_s == (RefreshConfig().min_interval_s if t.refresh_min_interval is None else t.refresh_min_interval), name
        assert r.max_psnr_drop_db == (RefreshConfig().max_psnr_drop_db if t.refresh_psnr_drop is None else t.refresh_psnr_drop), name


def test_explicit_flags_override_the_preset() -> None:
    o = options_for("--preset", "30k", "--keyframe-quality", "33", "--position-step-inv", "64", "--no-refresh", "--refresh-psnr-drop", "4")
    assert o.keyframe_quality == 33 and o.compact_motion.position_step_inv == 64
    assert o.refresh.min_interval_s == PRESETS["30k"].settings.refresh_min_interval  # the rest still the preset's
    assert o.refresh.enabled is False and o.refresh.max_psnr_drop_db == 4.0


def test_a_call_keeps_its_own_intra_period_under_a_preset() -> None:
    from avfr.cli import CALL_INTRA_PERIOD

    args = build_parser().parse_args(["send", "--play-from", "x.mp4", "--preset", "2k"])
    assert encode_options(args).compact_motion.intra_period == CALL_INTRA_PERIOD


def test_unknown_preset_is_one_line() -> None:
    with pytest.raises(InputError, match="choose one of"):
        preset("nope")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["encode", "in.mp4", "-o", "o.avfr", "--preset", "nope"])


def test_resolve_and_table() -> None:
    assert resolve(None, EncodeSettings(target_kbps=5.0)) == EncodeSettings(target_kbps=5.0)
    assert resolve("16k", EncodeSettings()).keyframe_quality == PRESETS["16k"].settings.keyframe_quality
    table = presets_table()
    assert all(f"`{name}`" in table for name in PRESETS)
