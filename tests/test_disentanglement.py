"""MIG, DCI and SAP against cases whose answer is known: by hand, a code that is the factors, and its rotation."""
import math

import numpy as np
import pytest

from explorer.errors import DataError
from explorer.metrics.disentanglement import (dci_from_importance, disentanglement, entropy, mig,
                                              mutual_information, sap, threshold_accuracy)


def factors_and_code(n=2000, k=7, extra=3, noise=0.15, seed=0):
    """k independent 0/1 factors, a code whose first k dimensions are the factors plus noise, then pure noise."""
    rng = np.random.default_rng(seed)
    f = rng.integers(0, 2, (n, k))
    code = np.concatenate([f + noise * rng.standard_normal((n, k)), rng.standard_normal((n, extra))], 1)
    return f, code


def test_information_by_hand():
    a = np.array([0, 0, 1, 1])
    assert mutual_information(a, a) == pytest.approx(math.log(2))            # a copy knows everything
    assert mutual_information(a, np.array([0, 1, 0, 1])) == pytest.approx(0)  # independent: nothing
    assert entropy(np.array([0, 1, 2, 3])) == pytest.approx(math.log(4))
    assert entropy(np.array([5, 5, 5])) == 0


def test_dci_scores_of_importance_matrices_by_hand():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))        # one dimension per factor
    assert dci_from_importance(np.ones((3, 3))) == pytest.approx((0.0, 0.0))  # everything everywhere
    # two dimensions both about factor 0: each dimension is pure (D = 1), the factor is split in two (C = 0)
    assert dci_from_importance(np.array([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx((1.0, 0.0))
    # one dimension about both factors equally, one unused: D = 1 - H_2(1/2, 1/2) = 0; each factor in one dim
    assert dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx((0.0, 1.0))
    # weighted: dim 0 pure (weight 3/4), dim 1 split evenly (weight 1/4, score 0)
    d, _ = dci_from_importance(np.array([[3.0, 0.0], [0.5, 0.5]]))
    assert d == pytest.approx(0.75)


def test_threshold_accuracy_by_hand():
    x = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    assert threshold_accuracy(x, y, np.array([0.0, 1.0]), np.array([0, 1])) == 1.0
    assert threshold_accuracy(x, 1 - y, np.array([0.0, 1.0]), np.array([1, 0])) == 1.0   # the other side
    assert threshold_accuracy(x, y, np.array([0.0, 1.0]), np.array([1, 0])) == 0.0
    three = np.array([0, 0, 1, 1, 2, 2])          # a factor of three values: bins take their majority
    assert threshold_accuracy(x, three, x, three) == 1.0


def test_a_code_that_is_the_factors_scores_near_one_and_its_rotation_low():
    f, code = factors_and_code()
    good = disentanglement(code, f, names=[f"a{k}" for k in range(7)])
    assert good["mig"] > 0.9 and good["dci_disentanglement"] > 0.9 and good["dci_completeness"] > 0.9
    assert good["sap"] > 0.8 and good["dci_informativeness"] > 0.95
    assert set(good["per_factor"]) == {f"a{k}" for k in range(7)}
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((10, 10)))
    rotated = disentanglement(code @ q, f)
    assert rotated["mig"] < 0.3 and rotated["dci_disentanglement"] < 0.5 and rotated["sap"] < 0.3
    # a rotation loses no information: the factors are still predictable from the whole code
    assert rotated["dci_informativeness"] > 0.85


def test_a_code_that_ignores_the_factors_scores_zero_information():
    f, _ = factors_and_code(n=1000)
    noise = np.random.default_rng(3).standard_normal((1000, 5))
    assert mig(noise, f)["mig"] < 0.05
    assert sap(noise, f)["sap"] < 0.1


def test_one_dimension_carrying_two_factors_is_not_disentangled():
    """Factor 0 and factor 1 both coded by dimension 0 (as 2 f0 + f1): MIG's gap is small for at least one,
    DCI's disentanglement of dimension 0 is low."""
    rng = np.random.default_rng(4)
    f = rng.integers(0, 2, (2000, 2))
    code = np.stack([2 * f[:, 0] + f[:, 1] + 0.05 * rng.standard_normal(2000), rng.standard_normal(2000)], 1)
    assert disentanglement(code, f)["dci_disentanglement"] < 0.5


def test_bad_input_is_refused_readably():
    f, code = factors_and_code(n=100)
    for bad_codes, bad_factors, message in (
            (code[:50], f, "one row per picture"),
            (code[:10], f[:10], "at least 20 pictures"),
            (np.where(np.arange(10) == 3, np.nan, code), f, "NaN"),
            (code, f + 0.5, "whole numbers"),
            (code, -f, "whole numbers"),
            (code, np.zeros_like(f), "no factor varies")):
        with pytest.raises(DataError, match=message):
            disentanglement(bad_codes, bad_factors)
