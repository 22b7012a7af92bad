"""The bundled models: the default loads, and a stream finds the very weights it was encoded
with (by sha256), or says which model it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from codec import zoo
from codec.errors import ModelError
from codec.model import file_sha256

LIGHT_128 = zoo.WEIGHTS_DIR / "avfr-light-128.safetensors"  # kept for streams encoded before light-256


def test_the_default_model_is_bundled_and_loads() -> None:
    """Sender and receiver fall back to it: a missing or broken file would break every call."""
    path = zoo.default_model_path()
    assert path.is_file() and path in zoo.bundled_models() and LIGHT_128 in zoo.bundled_models()
    model = zoo.load_for_encoding(None)
    assert model.config.image_size == 256
    assert model.weights_sha256 == file_sha256(path)
    assert not model.training, "loaded for inference"


def test_a_missing_model_path_names_the_path(tmp_path: Path) -> None:
    """A typo in --model must say which path was wrong, not fall back silently to the default."""
    missing = tmp_path / "typo.safetensors"
    with pytest.raises(ModelError, match=f"{missing}.*--model"):
        zoo.load_for_encoding(missing)


def test_a_missing_bundled_model_says_to_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without its weights folder gets its own message, not a --model typo hint."""
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ModelError, match="bundled model .* is missing: reinstall avfr"):
        zoo.load_for_encoding(None)


@pytest.mark.parametrize("path", [zoo.default_model_path(), LIGHT_128], ids=["light-256", "light-128"])
def test_a_stream_finds_its_bundled_model_by_hash(path: Path) -> None:
    """Not merely the first bundled file: light-128 sorts first, so light-256's stream checks the lookup."""
    sha = file_sha256(path)
    model = zoo.resolve_model_for_stream("whatever-id", sha, None)
    assert model.weights_sha256 == sha
    assert model.config.image_size == (256 if path == zoo.default_model_path() else 128)


def test_a_matching_model_flag_is_used() -> None:
    sha = file_sha256(LIGHT_128)
    assert zoo.resolve_model_for_stream("light-128", sha, LIGHT_128).weights_sha256 == sha


def test_a_model_flag_with_other_weights_is_refused() -> None:
    """Other weights give keypoints another meaning: the picture would be garbage, so refuse."""
    stream_sha = file_sha256(zoo.default_model_path())
    with pytest.raises(ModelError) as caught:
        zoo.resolve_model_for_stream("light-256", stream_sha, LIGHT_128)
    message = str(caught.value)
    assert "\n" not in message
    assert str(LIGHT_128) in message and "is not the model this stream was encoded with" in message
    assert "light-256" in message and stream_sha[:16] in message and "--model" in message


def test_an_unbundled_hash_names_the_model_the_stream_needs() -> None:
    sha = "ab" * 32
    with pytest.raises(ModelError, match=r"needs model 'avfr-heavy-512' \(weights sha256 abababababababab\.\.\.\).*--model"):
        zoo.resolve_model_for_stream("avfr-heavy-512", sha, None)
