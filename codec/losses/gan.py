"""Adversarial losses (paper eq. 3-4) and FOMM feature matching.

The paper writes the original minimax cross-entropy objective. We default to least squares
(``gan_mode: ls``), which is what FOMM trains with: on a small data set with small batches
the discriminator quickly becomes confident, and the saturating log loss then gives the
generator vanishing gradients, while LSGAN's penalty keeps growing with the distance to the
target. ``gan_mode: bce`` gives eq. 3 for D and the usual non-saturating form of eq. 4's
adversarial term for G (min -log D(G) rather than min log(1 - D(G)), same fixed point).
Both operate on patch score maps, averaged over patches and scales.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Scores = dict[str, tuple[list[torch.Tensor], torch.Tensor]]


def generator_adversarial_loss(fake: Scores, mode: str) -> torch.Tensor:
    terms = []
    for _, score in fake.values():
        if mode == "ls":
            terms.append(((1.0 - score) ** 2).mean())
        else:
            terms.append(F.binary_cross_entropy_with_logits(score, torch.ones_like(score)))
    return torch.stack(terms).sum()


def discriminator_loss(real: Scores, fake: Scores, mode: str) -> torch.Tensor:
    terms = []
    for key, (_, real_score) in real.items():
        fake_score = fake[key][1]
        if mode == "ls":
            terms.append(((1.0 - real_score) ** 2).mean() + (fake_score**2).mean())
        else:
            terms.append(
                F.binary_cross_entropy_with_logits(real_score, torch.ones_like(real_score))
                + F.binary_cross_entropy_with_logits(fake_score, torch.zeros_like(fake_score))
            )
    return torch.stack(terms).sum()


def feature_matching_loss(real: Scores, fake: Scores) -> torch.Tensor:
    """FOMM: L1 between D's features on real and generated images, every block and scale."""
    terms = []
    for key, (real_feats, _) in real.items():
        for r, f in zip(real_feats, fake[key][0]):
            terms.append((r.detach() - f).abs().mean())
    return torch.stack(terms).sum()
