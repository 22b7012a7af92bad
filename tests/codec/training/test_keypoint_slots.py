"""The Hungarian choice of keypoint slots: the nearest keypoints, each used once."""

from __future__ import annotations

import numpy as np

from codec.training.keypoint_slots import nearest_slots


def test_each_landmark_gets_its_nearest_free_keypoint() -> None:
    d = np.full((5, 3), 9.0)
    d[2, 0], d[2, 1], d[4, 1], d[0, 2] = 0.1, 0.2, 0.3, 0.5  # keypoint 2 is nearest to both 0 and 1
    assert nearest_slots(d) == [2, 4, 0]
