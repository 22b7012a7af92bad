"""The bundled models (as CompressAI's zoo): which file is the default, and which model a
stream needs.

A stream's header names the model id and the sha256 of its weights; the receiver must use
the very same weights, or the keypoints mean something else. We look among the bundled files
for that hash, and otherwise ask the user for the file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from codec.errors import ModelError
from codec.model import AVFRModel, file_sha256, load_model

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "avfr-light-256-speech.safetensors"  # light-256-speech at step 22000 (docs/light-256/README.md)


def default_model_path() -> Path:
    return WEIGHTS_DIR / DEFAULT_MODEL


@lru_cache(maxsize=None)
def cached_sha256(path: Path) -> str:
    return file_sha256(path)


def bundled_models() -> list[Path]:
    return sorted(WEIGHTS_DIR.glob("*.safetensors"))


def load_for_encoding(path: Path | None) -> AVFRModel:
    """The user's model file, or the bundled default."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        if path == default_model_path():
            raise ModelError(f"the bundled model {path} is missing: reinstall avfr, or pass --model FILE.safetensors")
        raise ModelError(f"model file {path} not found: check the path given to --model")
    return load_model(path)


def resolve_model_for_stream(model_id: str, weights_sha256: str, path: Path | None) -> AVFRModel:
    """The model a stream was encoded with: --model if given (its hash must match), else a
    bundled file with the stream's hash."""
    if path is not None:
        model = load_for_encoding(path)
        if weights_sha256 and model.weights_sha256 and model.weights_sha256 != weights_sha256:
            raise ModelError(
                f"{path} is not the model this stream was encoded with ({model_id}, weights sha256 {weights_sha256[:16]}...): pass the matching --model file"
            )
        return model
    for candidate in bundled_models():
        if not weights_sha256 or cached_sha256(candidate) == weights_sha256:
            return load_model(candidate)
    raise ModelError(
        f"this stream needs model {model_id!r} (weights sha256 {weights_sha256[:16]}...), which is not bundled "
        f"with this avfr: pass it with --model FILE.safetensors"
    )
