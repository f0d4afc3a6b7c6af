import numpy as np

from inference_engine.model import LABELS, MLP


def test_probabilities_sum_to_one():
    proba = MLP.seeded().predict_proba(np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    assert proba.shape == (2, len(LABELS))
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_weights_are_deterministic():
    x = np.ones((1, 4))
    assert np.array_equal(MLP.seeded().predict_proba(x), MLP.seeded().predict_proba(x))
