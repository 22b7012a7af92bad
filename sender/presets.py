"""Encoder presets: named operating points of avfr's rate-distortion curve (`avfr encode --preset`).

A preset is a set of the encoder's existing settings (the keyframe quality, the keyframe
refresh policy, the compact motion coder's steps and intra period, rate control), nothing
that a user could not also give as flags: explicit flags always win over the preset's value,
and a setting the preset leaves open keeps the library default (``EncodeOptions``,
``CompactMotionParams``, ``RefreshConfig``, ``KeyframeConfig``). This module is the one home
of the preset table; the CLI, the live sender and the benchmarks read it from here.

The committed values come from measurement: ``python -m benchmarks.presets`` encodes a grid
of candidate settings (:data:`benchmarks.presets.CANDIDATES`) on dev clips and, for each
target rate, keeps the candidate with the best LPIPS among those whose mean video rate does
not exceed the target by more than 10% (the way an encoder's presets are chosen); it prints the
table below and writes ``benchmarks/results/presets.md``. What it found with light-256: a
refresh on a 3 dB drift buys more than a better keyframe at the same rate (keyframe QP 40 with
refreshes: LPIPS 0.123 at 13.4 kbit/s; QP 29 without: 0.144 at 15.3), and finer motion steps
buy nothing measurable. Re-run it on more clips with each new default model.

Rates are video only (keyframes + motion + their framing, as ``avfr info`` counts them) on
the dev clips (3-15 s each); on a longer call the keyframe is paid once and the rate falls
(``benchmarks.long_call``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from codec.errors import InputError


@dataclass(frozen=True)
class EncodeSettings:
    """The encode settings a preset may fix; ``None`` leaves the setting open.

    Field names are those of the ``avfr encode`` flags (``--keyframe-quality``, ...), so that
    a flag and a preset entry are the same thing by construction.
    """

    keyframe_quality: int | None = None  # the keyframe codec's own knob (VVC intra: QP, lower is better)
    position_step_inv: int | None = None
    jacobian_step_inv: int | None = None
    intra_period: int | None = None
    refresh: bool | None = None  # False: one keyframe only (--no-refresh)
    refresh_min_interval: float | None = None  # seconds between quality-triggered refreshes at least
    refresh_psnr_drop: float | None = None  # dB below its start at which the sender's own render asks for a refresh
    target_kbps: float | None = None  # video rate control instead of fixed motion steps

    def over(self, base: "EncodeSettings") -> "EncodeSettings":
        """These settings where they are set, ``base``'s elsewhere (flags over a preset)."""
        return replace(base, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None})

    def label(self) -> str:
        """A short name for tables: only what differs from the defaults."""
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name) is not None]
        return ", ".join(parts) or "defaults"

    def options(self, **fixed: object):  # noqa: ANN201 (sender.encoder.EncodeOptions; imported late: torch)
        """``EncodeOptions`` with these settings and the library defaults for the rest;
        ``fixed`` sets the options no preset touches (model, frames, audio, ...)."""
        from codec.bitstream.compact_motion import CompactMotionParams
        from sender.encoder import EncodeOptions
        from sender.refresh import RefreshConfig

        motion, refresh = CompactMotionParams(), RefreshConfig()
        motion = replace(motion, **_set(position_step_inv=self.position_step_inv, jacobian_step_inv=self.jacobian_step_inv,
                                        intra_period=self.intra_period))  # fmt: skip
        refresh = replace(refresh, **_set(enabled=self.refresh, min_interval_s=self.refresh_min_interval,
                                          max_psnr_drop_db=self.refresh_psnr_drop))  # fmt: skip
        return EncodeOptions(keyframe_quality=self.keyframe_quality, compact_motion=motion, refresh=refresh,
                             target_kbps=self.target_kbps, **fixed)  # type: ignore[arg-type]  # fmt: skip


def _set(**values: object) -> dict[str, object]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Preset:
    name: str
    settings: EncodeSettings
    measured_kbps: float | None  # mean video kbit/s on the dev clips when the table was measured (None: not yet)
    summary: str


# Measured by `python -m benchmarks.presets --clips 1 --max-frames 125` with the default model
# (light-256-speech) and container version 3 (benchmarks/results/presets.md): one 5 s dev clip,
# so the keyframe alone is ~3 kbit/s and nothing reaches 2 or 4 kbit/s there; both take the
# cheapest candidate (the floor). On a minute-long call the keyframe is paid once and every
# preset's rate falls (benchmarks.long_call).
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("2k", EncodeSettings(keyframe_quality=47, position_step_inv=32, jacobian_step_inv=8, intra_period=100),
               4.6, "the cheapest measured: a coarse keyframe and coarse motion (the floor on a 5 s clip)"),
        Preset("4k", EncodeSettings(keyframe_quality=47, position_step_inv=32, jacobian_step_inv=8, intra_period=100),
               4.6, "the same as 2k: no candidate lay between them on a 5 s clip"),
        Preset("8k", EncodeSettings(keyframe_quality=47, refresh_min_interval=2.0, refresh_psnr_drop=3.0), 8.2,
               "a coarse keyframe, refreshed as soon as the picture drifts 3 dB (at most every 2 s)"),
        Preset("16k", EncodeSettings(keyframe_quality=40, refresh_min_interval=2.0, refresh_psnr_drop=3.0), 12.2,
               "a better keyframe, refreshed at a 3 dB drift (at most every 2 s)"),
        Preset("30k", EncodeSettings(keyframe_quality=29, refresh_min_interval=2.0, refresh_psnr_drop=3.0), 25.2,
               "the default keyframe quality, refreshed at a 3 dB drift (at most every 2 s)"),
    )
}  # fmt: skip


def preset(name: str) -> Preset:
    """A preset by name, or a one-line error naming the choices."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None


def resolve(preset_name: str | None, explicit: EncodeSettings) -> EncodeSettings:
    """What an encode runs with: the explicit settings (flags) over the preset's."""
    base = preset(preset_name).settings if preset_name else EncodeSettings()
    return explicit.over(base)


def presets_table() -> str:
    """The table as Markdown, for the README and `avfr encode --help`."""
    lines = ["| preset | measured video kbit/s | settings | what it is |", "|---|---|---|---|"]
    for p in PRESETS.values():
        kbps = f"{p.measured_kbps:.1f}" if p.measured_kbps is not None else "not yet measured"
        lines.append(f"| `{p.name}` | {kbps} | {p.settings.label()} | {p.summary} |")
    return "\n".join(lines)


__all__ = ["EncodeSettings", "PRESETS", "Preset", "preset", "presets_table", "resolve"]
