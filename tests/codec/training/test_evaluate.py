"""The model card's evaluation: same-identity protocol on prepared data, relative motion."""

from __future__ import annotations

from pathlib import Path

import pytest

from codec.training.evaluate import evaluate_model
from codec.zoo import default_model_path


@pytest.mark.data
def test_same_identity_evaluation_reports_model_and_repeat_keyframe(prepared: Path) -> None:
    result = evaluate_model(default_model_path(), prepared, max_frames=6, progress=False, audio_ablation=True)
    assert set(result["clips"]) and result["mean"].keys() >= {"lpips", "psnr_db", "repeat_keyframe_lpips", "repeat_keyframe_psnr_db"}
    speech = [c for c in result["clips"].values() if c["has_speech"]]
    assert result["mean"]["speech_clips"] == len(speech) > 0  # the ablation ran on every clip with speech
    assert all(0.0 <= c["lpips_without_speech"] < 1.0 for c in speech)
    for name, clip in result["clips"].items():
        assert clip["frames"] == 5  # the keyframe itself is not scored
        assert 0.0 <= clip["lpips"] < 1.0 and 5.0 < clip["psnr_db"] < 60.0
        assert 0.0 < clip["mouth_lpips"] < 1.0 and clip["face_frames"] + clip["no_face_real"] >= 0
        assert clip["mouth_corr"] is None or -1.0 <= clip["mouth_corr"] <= 1.0
        assert len(result["series"][name]["real"]) == len(result["series"][name]["decoded"]) == 5
    assert all(0.0 < c["mouth_lpips_without_speech"] < 1.0 for c in speech)
    assert result["mean"]["speech_clips_mouth_lpips_clips"] == len(speech)
