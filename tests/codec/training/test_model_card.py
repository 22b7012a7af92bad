"""The model card: its committed pictures hold no research-only pixels, its verdicts follow its numbers."""

from __future__ import annotations

import pytest

from codec.media.public_face import public_photo
from codec.training.model_card import still_inputs


def test_public_photo_yields_one_model_input_with_a_face() -> None:
    inputs = still_inputs([public_photo()], 128)
    assert len(inputs) == 1 and tuple(inputs[0].shape) == (5, 128, 128)
    assert float(inputs[0][3].max()) > 0  # the face-mesh drawing channel found the face


def _means(corr: float, amp: float, lpips: float, corr_silent: float, lpips_silent: float) -> dict:
    return {
        "speech_clips_mouth_corr": corr, "speech_clips_mouth_corr_clips": 3, "speech_clips_mouth_amplitude_ratio": amp,
        "speech_clips_eye_corr": 0.5, "speech_clips_eye_amplitude_ratio": 0.7, "speech_clips_mouth_lpips": lpips,
        "speech_clips_mouth_corr_without_speech": corr_silent, "speech_clips_mouth_lpips_without_speech": lpips_silent,
    }  # fmt: skip


def test_the_cards_mouth_verdicts_follow_the_numbers() -> None:
    from codec.training.model_card import face_reading, face_table

    good = "\n".join(face_reading(_means(0.85, 0.9, 0.100, 0.6, 0.110)))
    assert "0.85 (target >= 0.8: met)" in good and "amplitude ratio, target >= 0.8: met" in good
    assert "+10.0%" in good and "(lower)" in good and "does measurable good" in good
    bad = "\n".join(face_reading(_means(0.39, 0.25, 0.100, 0.40, 0.101)))
    assert bad.count("NOT met") == 3 and "NOT lower" in bad and "barely moves" in bad and "not yet do measurable good" in bad
    table = face_table({"mean": _means(0.85, 0.9, 0.1, 0.6, 0.11)}, {"mean": {}}, 4000, "the previous default (step 400)")
    assert "| shipped model, with the clip's speech | 0.850 | 0.900 | 0.500 | 0.700 | 0.1000 |" in table
    assert "| the previous default (step 400), with speech |" in table
    assert "n/a" in table  # the early checkpoint's measures were not given


def test_the_mouth_plot_is_drawn_from_numbers_only(tmp_path) -> None:
    from codec.training.model_card import plot_mouth_opening, plotted_clips

    series = {"frame": [1, 2, 3, 5], "real": [0.1, 0.2, None, 0.1], "decoded": [0.1, 0.15, 0.12, 0.1], "decoded_without_speech": [0.1] * 4}
    result = {
        "model": "m.safetensors",
        "clips": {n: {"has_speech": n != "c", "mouth_corr": 0.5, "mouth_amplitude_ratio": None} for n in "abcd"},
        "series": {n: series for n in "abcd"},
    }
    assert plotted_clips(result, 2) == ["a", "d"] and plotted_clips(result) == ["a", "b", "d"] and plotted_clips(result, 1) == ["a"]
    result["series"] = {n: series for n in plotted_clips(result)}
    plot_mouth_opening(result, tmp_path / "mouth.png")
    assert (tmp_path / "mouth.png").stat().st_size > 1000


@pytest.mark.data
def test_the_mouth_plot_alone_evaluates_only_the_plotted_clips(prepared, tmp_path, capsys) -> None:
    from codec.training.model_card import main
    from codec.zoo import default_model_path

    assert main(["--mouth-plot-only", "--model", str(default_model_path()), "--data", str(prepared), "--max-frames", "4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "mouth_opening.png").stat().st_size > 1000 and not (tmp_path / "MODEL_CARD.md").exists()
    assert "on 1 dev clips" in capsys.readouterr().out  # the fixture's one clip with speech


def test_a_drop_scheduled_at_the_last_step_is_not_reported_as_reached() -> None:
    from codec.training.model_card import schedule_text

    facts = {"milestones": [10800, 12000]}
    assert schedule_text(facts, 12000) == "lr x0.1 at step 10800 (a later drop at 12000 was not reached)"
    assert schedule_text(facts, 12001) == "lr x0.1 at step 10800, 12000"
    assert schedule_text(facts, 10800).endswith("none reached")
