"""Which of a trained model's keypoints should carry the landmarks a new run pins?

    python -m codec.training.keypoint_slots MODEL [--data DIR] [--landmarks 13 14 61 291] [--frames 120]

A warm-started run that pulls keypoints onto landmarks (``keypoint_landmarks``) moves every
pinned keypoint from wherever the old model had put it; moving the ones that carried head pose
costs the picture. So pin the keypoints that already sit nearest: this measures, over training
frames, the mean L1 distance (grid units) between each keypoint and each landmark, and assigns
them with the Hungarian method. Its output is the ``keypoint_slots`` line of a model config.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from codec.defaults import prepared_dir
from codec.losses.keypoint_landmarks import oriented_targets
from codec.losses.landmark_flow import landmarks_to_grid
from codec.model import AVFRModel, load_model
from codec.training.dataset import PreparedDataset


def keypoint_landmark_distances(model: AVFRModel, dataset: PreparedDataset, landmarks: list[int], frames: int, seed: int = 0) -> np.ndarray:
    """``[num_kp, len(landmarks)]`` mean L1 distance over ``frames`` random training frames."""
    picks = np.random.default_rng(seed).choice(len(dataset), min(frames, len(dataset)), replace=False)
    total = np.zeros((model.config.num_kp, len(landmarks)))
    with torch.no_grad():
        for index in picks:
            item = dataset[(int(index), seed)]
            kp = model.keypoints(item["driving"][None])[0, :, :2]
            targets = landmarks_to_grid(oriented_targets(item["driving_landmarks"][None].float(), landmarks), dataset.size)[0]
            total += (kp[:, None, :] - targets[None]).abs().sum(-1).numpy()
    return total / len(picks)


def nearest_slots(distances: np.ndarray) -> list[int]:
    """The keypoint for each landmark (column) that minimises the summed distance."""
    rows, cols = linear_sum_assignment(distances)
    return [int(rows[list(cols).index(j)]) for j in range(distances.shape[1])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=prepared_dir(), help="prepared training data")
    parser.add_argument("--landmarks", type=int, nargs="+", default=[13, 14, 61, 291])
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args(argv)
    model = load_model(args.model).eval()
    dataset = PreparedDataset(args.data.expanduser(), size=model.config.image_size, split="train", augment=False)
    distances = keypoint_landmark_distances(model, dataset, args.landmarks, args.frames)
    slots = nearest_slots(distances)
    for landmark, slot in zip(args.landmarks, slots):
        print(f"landmark {landmark}: keypoint {slot} (mean L1 {distances[slot, args.landmarks.index(landmark)]:.3f})")
    print(f"keypoint_landmarks: {args.landmarks}\nkeypoint_slots: {slots}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
