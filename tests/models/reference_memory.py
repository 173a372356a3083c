"""An independent, loop-based NumPy reference of the memory (paper Sec. 3.1).

Written from the paper and REFERENCE.md with per-sample Python loops and dicts,
sharing no code with memorygan_tf.models.memorygan.memory, so the vectorised TensorFlow version
(sorting, segment sums, scatter-adds) is checked against plain arithmetic.
"""

import numpy as np


def stable_top(scores, k):
    """Indices of the k largest scores, ties to the lower index (as tf.math.top_k)."""
    return np.argsort(-scores, kind="stable")[:k]


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


class NumpyMemory:
    def __init__(self, size, key_dim, choose_k, alpha=0.5, beta=1e-8, kappa=1.0, eps=1e-3,
                 update_rule="em", em_iterations=1, correct_in_top=1, fill_empty=True,
                 batch_write="sum"):
        self.N, self.M, self.k = size, key_dim, choose_k
        self.alpha, self.beta, self.kappa, self.eps = alpha, beta, kappa, eps
        self.rule, self.T, self.cit = update_rule, em_iterations, correct_in_top
        self.fill_empty = fill_empty
        self.batch_write = batch_write
        self.keys = np.zeros((size, key_dim), np.float64)
        self.values = np.zeros(size, np.float64)
        self.values[: size // 2] = 1.0
        self.ages = np.zeros(size, np.float64)
        self.hist = np.full(size, 1e-5, np.float64)

    def state(self):
        return dict(keys=self.keys.copy(), values=self.values.copy(), ages=self.ages.copy(),
                    histogram=self.hist.copy())

    def load(self, keys, values, ages, histogram):
        self.keys, self.values = np.array(keys, np.float64), np.array(values, np.float64)
        self.ages, self.hist = np.array(ages, np.float64), np.array(histogram, np.float64)

    @staticmethod
    def unit(q):
        return q / np.linalg.norm(q)

    def log_joint(self, q):
        return self.kappa * (self.keys @ q - 1.0) + np.log(self.hist + self.beta)

    def read(self, queries):
        out = []
        for q in queries:
            lj = self.log_joint(self.unit(q))
            s = stable_top(lj, self.k)
            w = softmax(lj[s])
            out.append(np.clip(np.sum(w * self.values[s]), self.eps, 1 - self.eps))
        return np.array(out)

    def plans(self, queries, labels):
        """Per sample: (unit query, label, S_y slots, valid flags, reset)."""
        queries = [self.unit(np.asarray(q, np.float64)) for q in queries]
        labels = [float(y) for y in labels]
        plans = []
        for q, y in zip(queries, labels):
            lj = self.log_joint(q)
            correct = any(self.values[i] == y for i in stable_top(lj, self.cit))
            cond = np.where(self.values == y, lj, -1e30)
            slots = stable_top(cond, self.k)
            if self.fill_empty and not np.any(self.keys[slots[0]]):
                correct = False  # the best slot of this label was never written
            valid = [bool(self.values[s] == y and correct) for s in slots]
            plans.append((q, y, slots, valid, not correct))
        return plans

    def write_statistics(self, queries, labels):
        """(share of reset samples, mean entropy of p(c | x) over the valid slots of S_y)."""
        plans = self.plans(queries, labels)
        entropies = []
        for q, _, slots, valid, _ in plans:
            chosen = [s for s, ok in zip(slots, valid) if ok]
            if chosen:
                p = softmax(self.log_joint(q)[chosen])
                entropies.append(-np.sum(p * np.log(p)))
        return np.mean([reset for *_, reset in plans]), np.mean(entropies) if entropies else 0.0

    def update(self, queries, labels):
        self.write(self.plans(queries, labels))

    def reset_slot(self, b, rank, oldest):
        """Where sample b, the rank-th resetting one, goes: the rank-th oldest slot now, or,
        given the release's oldest slots of the step, the b-th of them."""
        return stable_top(self.ages, rank + 1)[rank] if oldest is None else oldest[b]

    def write(self, plans, oldest=None, planned_keys=None, age_by=1.0):
        """Applies plans made by `plans`. A plan made from an earlier memory (the
        release's second D-step write) passes that memory's keys: EM's first E step
        scores a sample's slots as it was planned, with the keys of that memory.
        `age_by`: how much older every slot not written gets."""
        self.age_by = age_by
        self.planned_keys = self.keys.copy() if planned_keys is None else planned_keys
        mean_h = self.hist.mean()
        if self.batch_write == "last":
            self._write_last(plans, mean_h, oldest)
            return

        new_keys, new_hist, written = {}, {}, set()
        if self.rule == "kaiser":
            acc, count = {}, {}
            for q, y, slots, valid, reset in plans:
                if valid[0]:
                    s = slots[0]
                    acc[s] = acc.get(s, 0.0) + q
                    count[s] = count.get(s, 0) + 1
            for s in acc:
                new_keys[s] = self.unit(self.keys[s] + acc[s])
                new_hist[s] = self.alpha * self.hist[s] + count[s]
        else:
            touched = sorted({s for _, _, slots, valid, _ in plans for s, ok in zip(slots, valid) if ok})
            kh = {s: self.keys[s].copy() for s in touched}
            hh = {s: self.alpha * self.hist[s] for s in touched}
            prev = [np.zeros(self.k) for _ in plans]
            for t in range(self.T):
                gammas = []
                for q, y, slots, valid, reset in plans:
                    logits = np.full(self.k, -np.inf)
                    for j, s in enumerate(slots):
                        if valid[j]:
                            key = self.planned_keys[s] if t == 0 else kh[s]
                            logits[j] = self.kappa * (key @ q - 1.0) + np.log(hh[s] + self.beta)
                    gammas.append(softmax(logits) if np.isfinite(logits).any() else np.zeros(self.k))
                dh, dk = {s: 0.0 for s in touched}, {s: 0.0 for s in touched}
                dg_sum = {s: 0.0 for s in touched}
                for (q, y, slots, valid, reset), g, gp in zip(plans, gammas, prev):
                    d = g - gp
                    for j, s in enumerate(slots):
                        if valid[j]:
                            dh[s] += d.sum() if self.rule == "release" else d[j]
                            dk[s] = dk[s] + d[j] * q
                            dg_sum[s] += d[j]
                for s in touched:
                    hh[s] = hh[s] + dh[s]
                    kh[s] = self.unit(kh[s] + (dk[s] - dg_sum[s] * kh[s]) / hh[s])
                prev = gammas
            new_keys, new_hist = kh, hh
        for s in new_keys:
            self.keys[s] = new_keys[s]
            self.hist[s] = new_hist[s]
            written.add(s)

        rank = 0
        for b, (q, y, slots, valid, reset) in enumerate(plans):
            if reset:
                s = self.reset_slot(b, rank, oldest)
                rank += 1
                self.keys[s], self.values[s], self.hist[s] = q, y, mean_h
                written.add(s)
        self.ages += self.age_by
        for s in written:
            self.ages[s] = 0.0

    def _sample_rows(self, q, slots, valid):
        """One sample's EM (or Kaiser) rows {slot: (key, h)} from the current memory alone."""
        if self.rule == "kaiser":
            s = slots[0]
            return {s: (self.unit(self.keys[s] + q), self.alpha * self.hist[s] + 1.0)} if valid[0] else {}
        mine = [(j, s) for j, s in enumerate(slots) if valid[j]]
        kh = {s: self.keys[s].copy() for _, s in mine}
        hh = {s: self.alpha * self.hist[s] for _, s in mine}
        prev = {s: 0.0 for _, s in mine}
        for t in range(self.T):
            keys = [self.planned_keys[s] if t == 0 else kh[s] for _, s in mine]
            logits = np.array([self.kappa * (key @ q - 1.0) + np.log(hh[s] + self.beta)
                               for key, (_, s) in zip(keys, mine)])
            g = dict(zip([s for _, s in mine], softmax(logits)))
            total = sum(g[s] - prev[s] for _, s in mine)
            for _, s in mine:
                d = g[s] - prev[s]
                hh[s] += total if self.rule == "release" else d
                kh[s] = self.unit(kh[s] + d / hh[s] * (q - kh[s]))
            prev = g
        return {s: (kh[s], hh[s]) for _, s in mine}

    def _write_last(self, plans, mean_h, oldest=None):
        """The release: rows from the pre-step memory, applied in flat order, last wins."""
        rows, rank = [], 0
        for b, (q, y, slots, valid, reset) in enumerate(plans):
            if reset:
                s = self.reset_slot(b, rank, oldest)
                rank += 1
                rows += [(s, q, y, mean_h)] * self.k
            else:
                mine = self._sample_rows(q, slots, valid)
                for j, s in enumerate(slots):
                    if s in mine and valid[j]:
                        rows.append((s, mine[s][0], self.values[s], mine[s][1]))
        self.ages += self.age_by
        for s, key, value, h in rows:  # in order: a later row replaces an earlier one
            self.keys[s], self.values[s], self.hist[s], self.ages[s] = key, value, h, 0.0

    def sample_probs(self):
        mass = self.hist * self.values
        return mass / mass.sum()
