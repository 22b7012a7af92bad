"""The model card's committed picture uses only a public-domain face, through the codec's own crop."""

from __future__ import annotations

from codec.demo import public_photo
from codec.training.model_card import still_inputs


def test_public_photo_yields_one_model_input_with_a_face() -> None:
    inputs = still_inputs([public_photo()], 128)
    assert len(inputs) == 1 and tuple(inputs[0].shape) == (5, 128, 128)
    assert float(inputs[0][3].max()) > 0  # the face-mesh drawing channel found the face
