"""The truncated CRP Gibbs sampler of MIC-GANs (memorygan_tf.models.micgan.crp) against hand-computed
cases, scipy, and a synthetic mixture it must recover."""

import math

import numpy as np
import pytest
from scipy import stats

from memorygan_tf import evaluation
from memorygan_tf.models.micgan import crp


def test_log_likelihoods_match_scipy_and_mark_pruned_modes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    a = rng.normal(size=(3, 3))
    mixture = crp.Mixture(means=rng.normal(size=(2, 3)), covariances=np.stack([a @ a.T + np.eye(3), 2 * np.eye(3)]),
                          active=np.array([True, False]))
    out = crp.log_likelihoods(x, mixture)
    np.testing.assert_allclose(out[:, 0], stats.multivariate_normal(mixture.means[0], mixture.covariances[0]).logpdf(x))
    assert np.all(out[:, 1] == -np.inf)


def test_one_assignment_is_counts_times_likelihoods():
    counts = np.array([3.0, 1.0, 0.0])
    log_lik = np.log([0.2, 0.6, 0.9])
    active = np.ones(3, bool)
    # authors' code: n_k lik_k over occupied modes: [0.6, 0.6, 0] -> [0.5, 0.5, 0]
    p = np.exp(crp.assignment_log_probabilities(counts, log_lik, active))
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0], atol=1e-12)
    # Eq. 10 with a concentration alpha = 2 for the one empty mode: [0.6, 0.6, 2 * 0.9] / 3.0
    p = np.exp(crp.assignment_log_probabilities(counts, log_lik, active, concentration=2.0))
    np.testing.assert_allclose(p, [0.2, 0.2, 0.6], atol=1e-12)
    # a pruned mode never takes an item, however likely
    p = np.exp(crp.assignment_log_probabilities(counts, log_lik, np.array([True, False, True]), concentration=2.0))
    np.testing.assert_allclose(p, [0.6 / 2.4, 0.0, 1.8 / 2.4], atol=1e-12)


def test_gibbs_sweep_moves_items_to_the_mode_that_explains_them():
    """Two occupied modes, every item far likelier under mode 1: one sweep moves all but
    (at most) the last one of mode 0's items, whose count can no longer be positive."""
    log_lik = np.tile([math.log(1e-9), 0.0], (20, 1))
    labels = np.r_[np.zeros(10, int), np.ones(10, int)]
    out = crp.gibbs_sweep(labels, log_lik, np.ones(2, bool), np.random.default_rng(0))
    assert np.sum(out == 1) >= 19


def _three_blobs(rng, per=300):
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    x = np.concatenate([c + 0.5 * rng.normal(size=(per, 2)) for c in centres])
    return x, np.repeat(np.arange(3), per)


def test_recovers_a_well_separated_mixture_and_prunes_the_extra_modes():
    rng = np.random.default_rng(1)
    x, truth = _three_blobs(rng)
    # six modes: three near the components (off-centre), three that explain nothing
    means = np.array([[0.8, 0.5], [5.0, 0.6], [0.5, 5.2], [3.0, 3.0], [20.0, 20.0], [-15.0, 4.0]])
    mixture = crp.Mixture(means, np.tile(0.1 * np.eye(2), (6, 1, 1)), np.ones(6, bool))
    labels, fitted, weights = crp.cluster(x, mixture, np.random.default_rng(2), rounds=3, sweeps=3, min_members=30)
    assert evaluation.cluster_purity(labels, truth) > 0.95
    assert fitted.active.sum() == 3 and not fitted.active[3:].any()
    np.testing.assert_allclose(np.sort(weights[fitted.active]), [1 / 3] * 3, atol=0.02)
    for k, centre in zip(range(3), ([0.0, 0.0], [6.0, 0.0], [0.0, 6.0])):
        np.testing.assert_allclose(fitted.means[k], centre, atol=0.15)


def test_same_seed_same_labels():
    x, _ = _three_blobs(np.random.default_rng(3), per=60)
    mixture = crp.Mixture.initial(3, 2 + 1)  # 3 modes need 3 dimensions for the simplex start
    x3 = np.c_[x / 6.0, np.zeros(len(x))]
    a = crp.cluster(x3, mixture, np.random.default_rng(5), rounds=2, sweeps=2, min_members=5)[0]
    b = crp.cluster(x3, mixture, np.random.default_rng(5), rounds=2, sweeps=2, min_members=5)[0]
    np.testing.assert_array_equal(a, b)


def test_initial_mixture_needs_a_dimension_per_mode():
    with pytest.raises(ValueError, match="at least as many dimensions as modes"):
        crp.Mixture.initial(5, 3)


def test_each_refit_round_restarts_from_the_most_likely_labels():
    """As the authors' crp(): round 2 starts from the argmax under the refitted mixture,
    not from round 1's labels (no Gibbs sweeps here, so only the restart moves labels)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.0, 1.5, (100, 2)), rng.normal([6.0, 0.0], 1.5, (100, 2))])
    mixture = crp.Mixture(np.array([[0.0, 0.0], [2.0, 0.0]]), np.tile(np.eye(2), (2, 1, 1)), np.ones(2, bool))
    first = np.argmax(crp.log_likelihoods(x, mixture), axis=1)
    refitted = crp.refit(x, first, mixture, min_members=5)
    expected = np.argmax(crp.log_likelihoods(x, refitted), axis=1)
    assert np.sum(expected != first) >= 10  # the refit moves the boundary
    np.testing.assert_array_equal(crp.cluster(x, mixture, rng, rounds=1, sweeps=0, min_members=5)[0], first)
    np.testing.assert_array_equal(crp.cluster(x, mixture, rng, rounds=2, sweeps=0, min_members=5)[0], expected)
