"""A straightforward vectorised NumPy memory (read + update, T = 1, paper or release rule).

The benchmark's CPU baseline for what :class:`memorygan_tf.models.memorygan.memory.Memory` does in
TensorFlow; the tests check that both agree. Same semantics: conditional top-k,
reset into the oldest slots (fill_empty included), EM statistics summed per slot.
"""

from __future__ import annotations

import numpy as np


class NumpyMemory:
    def __init__(self, size, key_dim, choose_k, alpha=0.5, beta=1e-8, eps=1e-3, update_rule="em"):
        self.k, self.alpha, self.beta, self.eps, self.rule = choose_k, alpha, beta, eps, update_rule
        self.keys = np.zeros((size, key_dim), np.float32)
        self.values = np.zeros(size, np.float32)
        self.values[: size // 2] = 1.0
        self.ages = np.zeros(size, np.float32)
        self.hist = np.full(size, 1e-5, np.float32)

    def _top_k(self, scores, k):
        idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, idx, 1), axis=1, kind="stable")
        return np.take_along_axis(idx, order, 1)

    def similarity(self, query):
        q = query / np.linalg.norm(query, axis=1, keepdims=True)
        return q, q @ self.keys.T

    def read(self, query, sim=None):
        if sim is None:
            _, sim = self.similarity(query)
        log_joint = sim - 1.0 + np.log(self.hist + self.beta)
        slots = self._top_k(log_joint, self.k)
        top = np.take_along_axis(log_joint, slots, 1)
        w = np.exp(top - top.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        return np.clip((w * self.values[slots]).sum(1), self.eps, 1 - self.eps)

    def update(self, query, labels, sim=None):
        q, sim2 = self.similarity(query)
        sim = sim2 if sim is None else sim
        labels = np.asarray(labels, np.float32)
        log_joint = sim - 1.0 + np.log(self.hist + self.beta)
        correct = self.values[np.argmax(log_joint, 1)] == labels
        conditional = np.where(self.values[None, :] == labels[:, None], log_joint, -np.inf)
        slots = self._top_k(conditional, self.k)
        correct &= np.any(self.keys[slots[:, 0]] != 0, axis=1)  # fill empty slots first
        valid = (self.values[slots] == labels[:, None]) & correct[:, None]
        logits = np.where(valid, np.take_along_axis(log_joint, slots, 1), -np.inf)
        logits -= np.where(valid.any(1, keepdims=True), logits.max(1, keepdims=True), 0.0)
        gamma = np.where(valid, np.exp(logits), 0.0)
        gamma /= np.maximum(gamma.sum(1, keepdims=True), 1e-30)
        mean_h = self.hist.mean()

        flat, g = slots[valid], gamma[valid]
        rows = np.nonzero(valid)[0]
        touched = np.unique(flat)
        dh = np.zeros_like(self.hist)
        np.add.at(dh, flat, np.ones_like(g) if self.rule == "release" else g)
        dgq = np.zeros((len(touched), self.keys.shape[1]), np.float32)
        pos = np.searchsorted(touched, flat)
        np.add.at(dgq, pos, g[:, None] * q[rows])
        dg = np.zeros(len(touched), np.float32)
        np.add.at(dg, pos, g)
        h_new = self.alpha * self.hist[touched] + dh[touched]
        k_old = self.keys[touched]
        k_new = k_old + (dgq - dg[:, None] * k_old) / h_new[:, None]
        self.keys[touched] = k_new / np.linalg.norm(k_new, axis=1, keepdims=True)
        self.hist[touched] = h_new

        reset = np.nonzero(~correct)[0]
        oldest = np.argsort(-self.ages, kind="stable")[: len(reset)]
        self.keys[oldest] = q[reset]
        self.values[oldest] = labels[reset]
        self.hist[oldest] = mean_h
        self.ages += 1.0
        self.ages[touched] = 0.0
        self.ages[oldest] = 0.0
