"""The truncated Chinese Restaurant Process over a Gaussian mixture: the sampling half of
MIC-GANs' Adversarial CRP (Yin et al., ICCV 2021, Sec. 3.3-3.4, Algorithms 3-4 of its
supplement), in NumPy.

Images are embedded by an encoder; each of K modes (the truncation) is a Gaussian in
that space. One round: the likelihood of every embedding under every mode, `sweeps`
Gibbs sweeps over the mode labels (each label drawn from p(z_i = k | z_-i, x_i), the
CRP prior given the other labels times the mode's likelihood, Eq. 10), then every mode
refitted to its members (mean and covariance, the covariance widened by `inflate`^2 as
the authors' code does) and modes with too few members pruned for good (their members
go to the kept modes at random). The mode weights pi are the label counts.

Eq. 10 also lets an item open a new table with weight alpha (the concentration). The
authors' code leaves that term out (p ~ n_k lik_k over existing modes only): that is
`concentration=None` here, the default. With a concentration alpha > 0, an item may
move to an empty mode that is not pruned, with prior weight alpha shared equally among
the empty modes and that mode's own Gaussian as its likelihood.

Everything is a function of arrays and a numpy Generator, so a run is reproducible from
its seed and the state (labels, means, covariances, the pruned set) can be checkpointed.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def memory_bytes(modes, items=60000):
    """A lower bound on what a truncation of `modes` costs: the mixture's K x K x K
    covariances twice (float64 here, float32 in the model's checkpointed state) and the
    [items, K] float64 log likelihoods of a round over `items` training images."""
    return 12 * modes**3 + 8 * items * modes


def check_fits(modes, available, items=60000):
    """Raises configs.ConfigError naming --micgan_modes where the truncation cannot fit in the
    `available` bytes (None: unknown, no check): a refusal up front, not NumPy's out-of-memory."""
    from memorygan_tf import configs

    need = memory_bytes(modes, items)
    if available is not None and need > available:
        raise configs.ConfigError(
            "micgan_modes", f"{modes} modes need at least {need / 2**30:.1f} GiB (the CRP's {modes} x {modes} x "
            f"{modes} covariances), but {available / 2**30:.1f} GiB are available; lower --micgan_modes "
            "(the paper uses 20-100)")


@dataclasses.dataclass
class Mixture:
    """K Gaussian modes in the embedding space; `active[k]` False once mode k is pruned."""

    means: np.ndarray  # [K, d]
    covariances: np.ndarray  # [K, d, d]
    active: np.ndarray  # [K] bool

    @classmethod
    def initial(cls, modes, dim, scale=0.1):
        """The authors' start: means on the vertices of a simplex (the first `dim` basis
        vectors when dim >= modes), covariances scale * I."""
        if dim < modes:
            raise ValueError(f"the embedding needs at least as many dimensions as modes ({dim} < {modes})")
        means = np.eye(modes, dim)
        return cls(means, np.tile(scale * np.eye(dim), (modes, 1, 1)), np.ones(modes, bool))

    @property
    def size(self):
        return len(self.means)


def log_likelihoods(embeddings, mixture):
    """log N(x_i; mu_k, Sigma_k) of every embedding under every mode, [n, K]; -inf for
    pruned modes."""
    x = np.asarray(embeddings, np.float64)
    n, d = x.shape
    out = np.full((n, mixture.size), -np.inf)
    for k in np.flatnonzero(mixture.active):
        chol = np.linalg.cholesky(mixture.covariances[k])
        solved = np.linalg.solve(chol, (x - mixture.means[k]).T)  # L^-1 (x - mu)
        log_det = 2.0 * np.sum(np.log(np.diag(chol)))
        out[:, k] = -0.5 * (np.sum(solved**2, axis=0) + log_det + d * np.log(2.0 * np.pi))
    return out


def assignment_log_probabilities(counts, log_likelihood, active, concentration=None):
    """log p(z_i = k | z_-i, x_i), normalised, for one item (Eq. 10, truncated).

    `counts` [K] are the other items' labels counted; `log_likelihood` [K] the item's log
    likelihood under each mode. Occupied active modes get n_k lik_k; with a
    `concentration` alpha, empty active modes share alpha equally (times their own
    likelihood); without it (the authors' code) empty modes get nothing. Pruned modes
    get -inf."""
    counts = np.asarray(counts, np.float64)
    log_lik = np.asarray(log_likelihood, np.float64)
    occupied = (counts > 0) & active
    with np.errstate(divide="ignore"):
        log_prior = np.where(occupied, np.log(np.where(occupied, counts, 1.0)), -np.inf)
    empty = active & ~occupied
    if concentration and empty.any():
        log_prior = np.where(empty, np.log(concentration / empty.sum()), log_prior)
    logits = log_prior + log_lik
    if not np.isfinite(logits).any():  # no occupied mode explains the item: fall back to the likelihood
        logits = np.where(active, log_lik, -np.inf)
    logits = logits - np.max(logits)
    return logits - np.log(np.sum(np.exp(logits)))


def gibbs_sweep(labels, log_lik, active, rng, concentration=None):
    """One Gibbs sweep over all items in a random order: each label is drawn from
    assignment_log_probabilities given every other label. Returns new labels."""
    labels = np.array(labels, np.int64)
    counts = np.bincount(labels, minlength=log_lik.shape[1]).astype(np.float64)
    uniforms = rng.random(len(labels))
    for i in rng.permutation(len(labels)):
        counts[labels[i]] -= 1.0
        p = np.exp(assignment_log_probabilities(counts, log_lik[i], active, concentration))
        choice = int(np.searchsorted(np.cumsum(p), uniforms[i] * p.sum(), side="right"))
        labels[i] = min(choice, len(p) - 1)
        counts[labels[i]] += 1.0
    return labels


def refit(embeddings, labels, mixture, min_members, inflate=1.1, jitter=1e-6):
    """Each active mode's mean and covariance from its members (the covariance of
    `inflate` x (x - mean), as the authors widen it); a mode with at most `min_members`
    members is pruned. Returns the new Mixture."""
    x = np.asarray(embeddings, np.float64)
    d = x.shape[1]
    means, covariances, active = mixture.means.copy(), mixture.covariances.copy(), mixture.active.copy()
    for k in np.flatnonzero(active):
        members = x[labels == k]
        if len(members) <= min_members:
            active[k] = False
            continue
        mean = members.mean(axis=0)
        centred = (members - mean) * inflate
        covariances[k] = centred.T @ centred / (len(members) - 1) + jitter * np.eye(d)
        means[k] = mean
    if not active.any():
        raise ValueError("every mode was pruned: lower min_members or the truncation")
    return Mixture(means, covariances, active)


def reassign_pruned(labels, active, rng):
    """Members of pruned modes go to a kept mode drawn uniformly (the authors' choice)."""
    labels = np.array(labels, np.int64)
    orphans = ~active[labels]
    kept = np.flatnonzero(active)
    labels[orphans] = kept[rng.integers(0, len(kept), orphans.sum())]
    return labels


def cluster(embeddings, mixture, rng, rounds=3, sweeps=3, min_members=None, inflate=1.1, concentration=None,
            labels=None):
    """`rounds` rounds of (likelihoods, `sweeps` Gibbs sweeps, refit and prune), each
    starting, as the authors' code does, from the labels of highest likelihood under the
    mixture of that round (the first from `labels` instead, if given). `min_members`
    defaults to the authors' (d + 1) x 10. Returns (labels [n], mixture, weights [K] =
    label shares)."""
    x = np.asarray(embeddings, np.float64)
    min_members = (x.shape[1] + 1) * 10 if min_members is None else min_members
    for index in range(rounds):
        log_lik = log_likelihoods(x, mixture)
        if labels is None or index > 0:
            labels = np.argmax(log_lik, axis=1)
        for _ in range(sweeps):
            labels = gibbs_sweep(labels, log_lik, mixture.active, rng, concentration)
        mixture = refit(x, labels, mixture, min_members, inflate)
        labels = reassign_pruned(labels, mixture.active, rng)
    weights = np.bincount(labels, minlength=mixture.size) / len(labels)
    return labels, mixture, weights
