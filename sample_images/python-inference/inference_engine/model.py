"""A two-layer MLP with fixed, seeded weights: deterministic enough to test against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FEATURES = 4
N_HIDDEN = 16
LABELS = ("setosa", "versicolor", "virginica")


@dataclass(frozen=True)
class MLP:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    @classmethod
    def seeded(cls, seed: int = 7) -> MLP:
        rng = np.random.default_rng(seed)
        return cls(
            w1=rng.normal(0.0, 0.5, (N_FEATURES, N_HIDDEN)),
            b1=np.zeros(N_HIDDEN),
            w2=rng.normal(0.0, 0.5, (N_HIDDEN, len(LABELS))),
            b2=np.zeros(len(LABELS)),
        )

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities for a (n, N_FEATURES) batch."""
        hidden = np.maximum(features @ self.w1 + self.b1, 0.0)
        logits = hidden @ self.w2 + self.b2
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
