"""The memory of the Discriminative Memory Network (paper Sec. 3.1) as a Keras layer.

The memory M = (K, v, a, h) holds N slots: unit keys K (N x M), binary labels
v (1 = real), ages a and a histogram h (effective number of points per slot).
All four are non-trainable variables that never receive gradients; they change
only through :meth:`Memory.update`, an incremental-EM write (Eq. 5).

Batch semantics (REFERENCE.md point 5). The original release applies each
sample's write with ``scatter_update``, so when two samples of a batch touch the
same slot the last write wins, in an order that is undefined on GPUs. Here a
write step is *one* deterministic function of the whole batch:

* EM: the sufficient statistics of every sample that selects a slot are summed
  (``tf.unique`` groups, segment sums), so with T = 1 the key moves to the
  normalised weighted mean of alpha h K and all those samples' gamma q, as the
  incremental updates of Eq. 5 applied one sample after another (h decayed once
  per step, keys re-normalised at the end) would. The result does not depend
  on the order of samples.
* Reset: the j-th sample (in batch order) whose write is a reset takes the j-th
  oldest slot (ties broken by slot index), so no two resets share a slot. A reset
  overrides an EM write to the same slot in the same step. Given the oldest slots
  (:meth:`oldest_slots`, for the release's writes), sample b takes the b-th of them
  instead, as the release's ``get_oldest_idxs`` does.

Because a write is split into a per-sample :meth:`plan_update` and a batch-wide
:meth:`apply_update`, a distributed trainer can plan on each replica, all-gather
the (small) plans and apply the same update everywhere; see ``gan.py`` (MemoryGAN.write_memory).
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import compat
from memorygan_tf.models.memorygan.options import MemoryGANOptions, check_memory

# The options' declared defaults (one place: models/memorygan/options.py), as the
# constructor's; a run's Memory gets every argument from its config.
DEFAULTS = MemoryGANOptions()

# Pushes a masked logit below every real one without producing NaN in softmax.
_MASKED = -1e30


class WritePlan(NamedTuple):
    """What one batch of queries will write; everything is per sample.

    query:  [B, M] unit queries.
    labels: [B] memory dtype, 1 for real samples, 0 for generated ones.
    slots:  [B, k] int32, S_y: the top-k slots of the conditional posterior
            p(c | x, v_c = y), best first.
    scores: [B, k] log-likelihood kappa * (K_s . q - 1) of those slots.
    valid:  [B, k] bool, slot label equals y and the sample is not a reset.
    reset:  [B] bool, the sample is copied into an old slot instead of EM.
    """

    query: tf.Tensor
    labels: tf.Tensor
    slots: tf.Tensor
    scores: tf.Tensor
    valid: tf.Tensor
    reset: tf.Tensor


def _read(variable):
    """The current value of a memory variable, cut off from gradients."""
    return tf.stop_gradient(tf.convert_to_tensor(variable))


def concat_plans(plans):
    """Concatenates write plans along the batch axis (in the given order)."""
    return WritePlan(*[tf.concat(list(field), axis=0) for field in zip(*plans)])


def initial_values(size):
    """Release initialisation of v: the first half of the slots real, the rest fake."""
    values = np.zeros([size], np.float32)
    values[: size // 2] = 1.0
    return values


class Memory(keras.layers.Layer):
    """vMF-mixture memory with top-k read, conditional write and incremental EM.

    Every argument after `choose_k` defaults to its option's declared default
    (options.MemoryGANOptions) and obeys the options' rules (options.check_memory).

    Args:
        size: N, number of slots.
        key_dim: M, dimension of keys and queries.
        choose_k: k, slots used by the read and by each sample's write.
        alpha: histogram decay of the EM write (paper: 0.5).
        beta: prior smoothing constant (paper: 1e-8).
        kappa: vMF concentration (paper: 1).
        eps: output clip of p(y=1|x) (paper: 1e-3).
        update_rule: "em" (paper Eq. 5), "release" (the authors' code: every
            selected slot's histogram grows by the sample's total posterior
            change, i.e. 1, instead of by its own posterior), or "kaiser" (the
            "- EM" ablation: the nearest slot of the right label moves to
            l2_normalize(K + q), Kaiser et al. 2017).
        em_iterations: T, EM iterations per write (release: 1).
        correct_in_top: a sample is written by reset when none of the top
            `correct_in_top` slots of its unconditional posterior has its label
            (release: 1).
        fill_empty: also write by reset when the best slot of the sample's own
            label is still empty (K = 0). With K initialised to 0 (paper, release)
            the first real batch otherwise averages every query into the same k
            empty slots, which stay identical forever (EM cannot split equal
            components); the release escapes only through the undefined order of
            GPU scatters. Filling empty slots with actual queries breaks the
            symmetry deterministically. False reproduces the release.
        batch_write: how the samples of a batch that select the same slot combine.
            "sum": their EM statistics are summed (order-free; see the module doc).
            "last": as the release, every sample's write is computed from the memory
            as it was before the step, and the (sample, slot) rows are applied in
            flat order (row b * k + c), a later row for a slot replacing an earlier
            one; a resetting sample's rows all name its reset slot.
        prior_temperature: T of the MCGN's slot draw, p(c) ~ (h_c v_c)^(1/T).
            1 is the paper's prior (Sec. 3.2); T > 1 flattens it (not in the
            paper: a lever against a prior concentrated on a few slots).
    """

    def __init__(
        self,
        size,
        key_dim,
        choose_k,
        alpha=DEFAULTS.alpha,
        beta=DEFAULTS.beta,
        kappa=DEFAULTS.kappa,
        eps=DEFAULTS.eps,
        update_rule=DEFAULTS.update_rule,
        em_iterations=DEFAULTS.em_iterations,
        correct_in_top=DEFAULTS.correct_in_top,
        fill_empty=DEFAULTS.fill_empty,
        batch_write=DEFAULTS.batch_write,
        prior_temperature=DEFAULTS.prior_temperature,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # the options' rules, naming the flag of the offending argument (a ValueError)
        check_memory(MemoryGANOptions(
            memory_size=size, choose_k=choose_k, alpha=alpha, beta=beta, kappa=kappa, eps=eps,
            update_rule=update_rule, em_iterations=em_iterations, correct_in_top=correct_in_top,
            fill_empty=fill_empty, batch_write=batch_write, prior_temperature=prior_temperature))
        self.size = int(size)
        self.key_dim = int(key_dim)
        self.choose_k = int(choose_k)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.kappa = float(kappa)
        self.eps = float(eps)
        self.update_rule = update_rule
        self.em_iterations = int(em_iterations)
        self.correct_in_top = int(correct_in_top)
        self.fill_empty = bool(fill_empty)
        self.batch_write = batch_write
        self.prior_temperature = float(prior_temperature)

        values = initial_values(self.size)

        def add(name, shape, initializer):
            # aggregation "none": every replica applies the same deterministic
            # update to its own copy (see gan.py), so no cross-replica reduction.
            return self.add_weight(
                name=name,
                shape=shape,
                initializer=initializer,
                trainable=False,
                aggregation="none",
            )

        self.keys = add("keys", (self.size, self.key_dim), "zeros")
        self.values = add("values", (self.size,), lambda shape, dtype=None: tf.constant(values, dtype=dtype))
        self.ages = add("ages", (self.size,), "zeros")
        self.histogram = add("histogram", (self.size,), keras.initializers.Constant(1e-5))
        self.built = True

    def get_config(self):
        config = super().get_config()
        for name in ("size", "key_dim", "choose_k", "alpha", "beta", "kappa", "eps",
                     "update_rule", "em_iterations", "correct_in_top", "fill_empty", "batch_write",
                     "prior_temperature"):
            config[name] = getattr(self, name)
        return config

    # ------------------------------------------------------------------ read
    def normalize(self, query):
        """q = mu(x) / ||mu(x)|| (Sec. 3.1), in the memory's dtype."""
        return tf.math.l2_normalize(tf.cast(query, self.variable_dtype), axis=-1)

    def similarity(self, query):
        """kappa-free cosine scores K_i . q for every slot, [B, N].

        `query` is L2-normalised here; the keys are read without gradient. The
        result can be passed to :meth:`read` and :meth:`plan_update` so one batch
        costs one similarity pass.
        """
        q = self.normalize(query)
        return tf.matmul(q, _read(self.keys), transpose_b=True)

    def log_prior(self):
        """log(h_i + beta), the unnormalised log prior p(c = i) (Sec. 3.1.1)."""
        return tf.math.log(_read(self.histogram) + self.beta)

    def _log_joint(self, similarity):
        """log[exp(kappa K_i.q - kappa) (h_i + beta)], the unnormalised log p(c=i|x) (Eq. 1)."""
        return self.kappa * (similarity - 1.0) + self.log_prior()

    def log_joint(self, query, similarity=None):
        """The unnormalised log posterior log p(c = i | x) of every slot, [B, N] (Eq. 1)."""
        if similarity is None:
            similarity = self.similarity(query)
        return self._log_joint(similarity)

    def posterior(self, query, similarity=None):
        """Top-k slots S (Eq. 3) and their posterior p(c = i | x) within S (Eq. 1).

        Returns (slots [B, k] int32, probabilities [B, k]), best slot first.
        """
        if similarity is None:
            similarity = self.similarity(query)
        top_scores, slots = tf.math.top_k(self._log_joint(similarity), k=self.choose_k)
        return slots, tf.nn.softmax(top_scores, axis=-1)

    def _output(self, slots, probs):
        """Eqs. 2 and 4: sum_S v_i p(c = i | x), clipped to [eps, 1 - eps]."""
        p_real = tf.reduce_sum(probs * tf.gather(_read(self.values), slots), axis=-1)
        return tf.clip_by_value(p_real, self.eps, 1.0 - self.eps)

    def read(self, query, similarity=None):
        """Discriminator output p(y = 1 | x) (Eqs. 2-4), clipped to [eps, 1 - eps].

        Gradients flow into `query` (through the similarity of the selected
        slots), never into the memory.
        """
        return self._output(*self.posterior(query, similarity))

    def read_and_plan(self, query, labels, similarity=None):
        """:meth:`read` and :meth:`plan_update` of one batch sharing the similarity
        pass, the log-joint and the unconditional top-k (the train step's D step)."""
        if similarity is None:
            similarity = self.similarity(query)
        log_joint = self._log_joint(similarity)
        top_scores, slots = tf.math.top_k(log_joint, k=self.choose_k)
        p_real = self._output(slots, tf.nn.softmax(top_scores, axis=-1))
        plan = self._plan(query, labels, tf.stop_gradient(similarity), tf.stop_gradient(log_joint),
                          slots[:, : self.correct_in_top])
        return p_real, plan

    def log_likelihood(self, query, similarity=None):
        """log p(x) under the real-data mixture, as in the release (paper Fig. 3a).

        log sum_i (2 pi)^-1/2 exp(s_i - 1) (h_i v_i + beta) / sum_j (h_j v_j + beta).
        """
        if similarity is None:
            similarity = self.similarity(query)
        mass = _read(self.histogram) * _read(self.values) + self.beta
        log_terms = self.kappa * (similarity - 1.0) + tf.math.log(mass)
        return (
            tf.reduce_logsumexp(log_terms, axis=-1)
            - 0.5 * np.log(2.0 * np.pi)
            - tf.math.log(tf.reduce_sum(mass))
        )

    def statistics(self):
        """Scalars for monitoring: slots in use, entropy of the MCGN prior p(c), real rate."""
        keys = _read(self.keys)
        in_use = tf.reduce_mean(tf.cast(tf.reduce_sum(tf.abs(keys), axis=-1) > 0.0, tf.float32))
        log_p = tf.nn.log_softmax(self.prior_logits())
        p = tf.exp(log_p)
        entropy = -tf.reduce_sum(tf.where(p > 0.0, p * log_p, 0.0))
        return {
            "memory/slots_in_use": in_use,
            "memory/prior_entropy": entropy,
            "memory/real_rate": tf.reduce_mean(_read(self.values)),
        }

    def write_statistics(self, plan):
        """Diagnostics of one write plan: (reset rate, mean posterior entropy within S_y).

        The reset rate is the fraction of the plan's samples copied into an old slot. The
        entropy (nats) is that of p(c | x, v_c = y) restricted to the valid slots of S_y,
        kappa (K_c . q - 1) + log(h_c + beta) as in the E step's first iteration (Eq. 1
        with the memory as read), averaged over the samples that are not reset: log k
        means the posterior cannot tell the k slots apart (kappa too small for the
        prior), near 0 that one slot takes the whole write.
        """
        reset_rate = tf.reduce_mean(tf.cast(plan.reset, self.variable_dtype))
        logits = plan.scores + tf.gather(self.log_prior(), plan.slots)
        logits = tf.where(plan.valid, logits, _MASKED)
        log_p = logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
        entropy = -tf.reduce_sum(tf.where(plan.valid, tf.exp(log_p) * log_p, 0.0), axis=-1)
        written = tf.cast(tf.reduce_any(plan.valid, axis=-1), self.variable_dtype)
        mean_entropy = tf.math.divide_no_nan(tf.reduce_sum(entropy * written), tf.reduce_sum(written))
        return reset_rate, mean_entropy

    # ---------------------------------------------------------------- sample
    def prior_logits(self):
        """log(h_i v_i) / T: the MCGN prior P(c = i | v_c = 1) (Sec. 3.2), unnormalised
        (T = `prior_temperature`, 1 in the paper).

        Falls back to a uniform prior while no slot is labelled real.
        """
        h = _read(self.histogram)
        v = _read(self.values)
        logits = tf.where(v > 0.5, tf.math.log(h) / self.prior_temperature, tf.constant(-np.inf, h.dtype))
        return tf.where(tf.reduce_any(v > 0.5), logits, tf.zeros_like(h))

    def sample_keys(self, n, seed=None):
        """Draws n slots i ~ h_i v_i / sum_j h_j v_j (Sec. 3.2; (h_i v_i)^(1/T) with a
        `prior_temperature` T) and returns (slots, K_i).

        `seed` is a stateless seed (shape [2] integer tensor) for reproducible
        draws; without it TensorFlow's global generator is used.
        """
        logits = self.prior_logits()[tf.newaxis, :]
        if seed is None:
            slots = tf.random.categorical(logits, n, dtype=tf.int32)[0]
        else:
            slots = tf.random.stateless_categorical(logits, n, seed=seed, dtype=tf.int32)[0]
        return slots, tf.gather(_read(self.keys), slots)

    # ----------------------------------------------------------------- write
    def plan_update(self, query, labels, similarity=None):
        """Per-sample part of a write (Sec. 3.1.2, Algorithm 1 line 5).

        Finds S_y, the top-k slots of the conditional posterior p(c | x, v_c = y)
        (slots of the other label are excluded outright), and the reset test: a
        sample whose unconditional top-`correct_in_top` slots all carry the wrong
        label is written into an old slot instead of by EM; so is, with
        `fill_empty`, a sample whose best slot of its own label is still empty.
        """
        if similarity is None:
            similarity = self.similarity(query)
        similarity = tf.stop_gradient(similarity)
        log_joint = self._log_joint(similarity)
        _, top = tf.math.top_k(log_joint, k=self.correct_in_top)
        return self._plan(query, labels, similarity, log_joint, top)

    def _plan(self, query, labels, similarity, log_joint, top):
        q = tf.stop_gradient(self.normalize(query))
        labels = tf.cast(tf.reshape(labels, [-1]), self.variable_dtype)
        values = _read(self.values)
        correct = tf.reduce_any(tf.equal(tf.gather(values, top), labels[:, None]), axis=-1)

        same_label = tf.equal(values[tf.newaxis, :], labels[:, None])
        conditional = tf.where(same_label, log_joint, _MASKED)
        _, slots = tf.math.top_k(conditional, k=self.choose_k)
        if self.fill_empty:
            best_key = tf.gather(self._keys_variable(), slots[:, 0])
            correct = tf.logical_and(correct, tf.reduce_any(best_key != 0.0, axis=-1))
        reset = tf.logical_not(correct)
        valid = tf.logical_and(
            tf.equal(tf.gather(values, slots), labels[:, None]), correct[:, None]
        )
        scores = self.kappa * (tf.gather(similarity, slots, batch_dims=1) - 1.0)
        return WritePlan(q, labels, slots, scores, valid, reset)

    def oldest_slots(self, n):
        """The n oldest slots [n], oldest first (ties broken by slot index): where resets go."""
        return tf.math.top_k(_read(self.ages), k=n).indices

    def _reset_targets(self, plan, oldest):
        """(resetting samples [R], their slots [R]). Without `oldest`: the j-th resetting
        sample takes the j-th oldest slot now (Sec. 3.1.2). With `oldest` (one per sample,
        :meth:`oldest_slots` taken before an earlier write of the same step): sample b
        takes oldest[b], as the release's writes do, whose D step draws the real and the
        generated batch's resets from the same pre-step oldest slots, so that a generated
        sample's reset replaces the real sample's of the same index."""
        resetting = tf.cast(tf.where(plan.reset)[:, 0], tf.int32)
        if oldest is None:
            return resetting, self.oldest_slots(tf.shape(plan.reset)[0])[: tf.shape(resetting)[0]]
        return resetting, tf.gather(oldest, resetting)

    def apply_update(self, plan, oldest=None, age_by=1.0):
        """Batch-wide part of a write: EM (Eq. 5) or Kaiser rule, resets, ages.

        Deterministic in its inputs, so replicas that apply the same (gathered)
        plan end with identical memories. Keys are written in place, one row per
        written slot (no copy of the N x M table). `oldest`: the reset slots of the
        release's writes (see :meth:`_reset_targets`). `age_by`: how much older every
        slot this write does not write gets (1; the release's D step, whose two writes
        both age the memory before either writes, is 2 then 0 here, so that the slots of
        its first write end as new as those of its second).
        """
        if self.batch_write == "last":
            self._apply_last(plan, oldest, age_by)
            return
        values = _read(self.values)
        ages = _read(self.ages)
        hist = _read(self.histogram)
        mean_hist = tf.reduce_mean(hist)
        resetting, target = self._reset_targets(plan, oldest)  # before any write
        ones = lambda n: tf.ones([n], self.variable_dtype)  # noqa: E731

        slots, new_keys, new_hist, _ = self._em_or_kaiser(plan, hist)
        self._keys_variable().scatter_nd_update(slots[:, None], new_keys)
        hist = tf.tensor_scatter_nd_update(hist, slots[:, None], new_hist)
        written = tf.scatter_nd(slots[:, None], ones(tf.shape(slots)[0]), [self.size])

        # Reset (Sec. 3.1.2), written after EM, so a reset overrides an EM write to the same slot.
        count = tf.shape(resetting)[0]
        target = target[:, None]
        self._keys_variable().scatter_nd_update(target, tf.gather(plan.query, resetting))
        values = tf.tensor_scatter_nd_update(values, target, tf.gather(plan.labels, resetting))
        hist = tf.tensor_scatter_nd_update(hist, target, mean_hist * ones(count))
        written = written + tf.scatter_nd(target, ones(count), [self.size])

        # Ages: every slot one older, every written slot new (Sec. 3.1.2).
        ages = tf.where(written > 0.0, tf.zeros_like(ages), ages + age_by)
        self.values.assign(values)
        self.ages.assign(ages)
        self.histogram.assign(hist)

    def _apply_last(self, plan, oldest=None, age_by=1.0):
        """The release's batch write (REFERENCE.md point 5): rows computed from the
        pre-step memory, applied in flat (sample, slot) order, a later row replacing an
        earlier one. Resets go where :meth:`_reset_targets` says, as with "sum"."""
        values = _read(self.values)
        ages = _read(self.ages)
        hist = _read(self.histogram)
        mean_hist = tf.reduce_mean(hist)
        resetting, reset_slots = self._reset_targets(plan, oldest)

        # EM / Kaiser rows: one per valid (sample, slot) entry, each from the pre-step memory.
        em_slots, em_keys, em_hist, em_position = self._em_or_kaiser(plan, hist, per_entry=True)
        em_values = tf.gather(values, em_slots)
        # Reset rows: a resetting sample's k rows all name its slot; the last of them counts.
        reset_position = resetting * self.choose_k + (self.choose_k - 1)

        slots = tf.concat([em_slots, reset_slots], 0)
        keys = tf.concat([em_keys, tf.gather(plan.query, resetting)], 0)
        new_values = tf.concat([em_values, tf.gather(plan.labels, resetting)], 0)
        new_hist = tf.concat([em_hist, mean_hist * tf.ones_like(reset_slots, self.variable_dtype)], 0)
        position = tf.concat([em_position, reset_position], 0)
        # Last row wins: for each slot keep the row with the largest flat position.
        latest = tf.gather(tf.math.unsorted_segment_max(position, slots, self.size), slots)
        keep = tf.equal(position, latest)
        slots = tf.boolean_mask(slots, keep)[:, None]
        self._keys_variable().scatter_nd_update(slots, tf.boolean_mask(keys, keep))
        values = tf.tensor_scatter_nd_update(values, slots, tf.boolean_mask(new_values, keep))
        hist = tf.tensor_scatter_nd_update(hist, slots, tf.boolean_mask(new_hist, keep))
        written = tf.scatter_nd(slots, tf.ones([tf.shape(slots)[0]], self.variable_dtype), [self.size])
        self.values.assign(values)
        self.ages.assign(tf.where(written > 0.0, tf.zeros_like(ages), ages + age_by))
        self.histogram.assign(hist)

    def _keys_variable(self):
        """The tf.Variable holding this replica's keys (for in-place row gathers and scatters).

        Under a distribution strategy the keys are a MirroredVariable (no scatter
        support); each replica writes its own component, as an "none"-aggregated
        assign would, since every replica applies the same update.
        """
        return compat.local_component(self.keys.value)

    def _em_or_kaiser(self, plan, hist, per_entry=False):
        """Combined EM (Eq. 5) or Kaiser write of all non-reset samples.

        Every valid (sample, slot) pair of S_y is an entry. By default entries are
        grouped by slot (tf.unique, in order of first appearance) and each group's
        statistics are summed, so the result does not depend on the order of samples.
        With `per_entry` every entry is its own group: each sample's write is computed
        alone from the pre-step memory (batch_write="last").
        Returns the written slots [U], their new keys [U, M], h [U] and each group's
        flat position (sample * k + column) of its first entry [U].
        """
        if self.update_rule == "kaiser":
            # Only the nearest slot of the right label (column 0 of S_y) moves.
            slots, valid, scores = plan.slots[:, :1], plan.valid[:, :1], plan.scores[:, :1]
        else:
            slots, valid, scores = plan.slots, plan.valid, plan.scores
        batch, k = tf.shape(slots)[0], tf.shape(slots)[1]
        flat_valid = tf.reshape(valid, [-1])
        entry_slot = tf.boolean_mask(tf.reshape(slots, [-1]), flat_valid)
        entry_sample = tf.boolean_mask(tf.repeat(tf.range(batch), k), flat_valid)
        entry_position = entry_sample * self.choose_k + tf.boolean_mask(tf.tile(tf.range(k), [batch]), flat_valid)
        if per_entry:
            unique_slots, group = entry_slot, tf.range(tf.shape(entry_slot)[0])
        else:
            unique_slots, group = tf.unique(entry_slot)
        groups = tf.shape(unique_slots)[0]
        pairs = tf.cast(tf.stack([group, entry_sample], axis=1), tf.int64)
        first_position = tf.math.unsorted_segment_min(entry_position, group, groups)

        def group_sum(x):
            return tf.math.unsorted_segment_sum(x, group, groups)

        def weighted_query_sum(weights):
            """sum over the entries of each group of weight * q_sample, [U, M], as a dense
            [U, B] x [B, M] product (no [entries, M] intermediate). A sample selects k
            distinct slots, so each (group, sample) pair occurs once. Dense beats
            tf.sparse.sparse_dense_matmul here (U <= N, B = 2 x batch): 5 ms of a 118 ms
            Fashion-MNIST step on 2 AVX-512 cores."""
            return tf.matmul(tf.scatter_nd(pairs, weights, tf.cast(tf.stack([groups, batch]), tf.int64)),
                             plan.query)

        k0 = tf.gather(self._keys_variable(), unique_slots)
        h0 = self.alpha * tf.gather(hist, unique_slots)
        if self.update_rule == "kaiser":
            ones = tf.ones_like(entry_slot, self.variable_dtype)
            return (unique_slots, self.normalize(k0 + weighted_query_sum(ones)), h0 + group_sum(ones),
                    first_position)

        k_t, h_t = k0, h0
        gamma_prev = tf.zeros_like(entry_slot, self.variable_dtype)
        for t in range(self.em_iterations):
            # E step: gamma^t = p(c | x) within S_y, with K^{t-1}, h^{t-1} (Eq. 1).
            if t == 0:
                log_lik = tf.boolean_mask(tf.reshape(scores, [-1]), flat_valid)  # keys unchanged
            else:
                queries = tf.gather(plan.query, entry_sample)
                log_lik = self.kappa * (tf.reduce_sum(tf.gather(k_t, group) * queries, axis=-1) - 1.0)
            logits = log_lik + tf.math.log(tf.gather(h_t, group) + self.beta)
            logits -= tf.gather(tf.math.unsorted_segment_max(logits, entry_sample, batch), entry_sample)
            weights = tf.exp(logits)
            gamma = weights / tf.gather(tf.math.unsorted_segment_sum(weights, entry_sample, batch), entry_sample)
            d_gamma = gamma - gamma_prev
            if self.update_rule == "release":
                per_sample = tf.math.unsorted_segment_sum(d_gamma, entry_sample, batch)
                d_hist = tf.gather(per_sample, entry_sample)
            else:
                d_hist = d_gamma
            # M step (Eq. 5): h^t = h^{t-1} + dgamma; K^t = K^{t-1} + dgamma / h^t (q - K^{t-1}),
            # summed over every sample that selected the slot.
            h_t = h_t + group_sum(d_hist)
            step = weighted_query_sum(d_gamma) - group_sum(d_gamma)[:, None] * k_t
            k_t = self.normalize(k_t + step / h_t[:, None])
            gamma_prev = gamma
        return unique_slots, k_t, h_t, first_position

    @tf.function(reduce_retracing=True)
    def update(self, query, labels, similarity=None):
        """One write step for a batch (Sec. 3.1.2, Eq. 5), compiled as a tf.function:
        :meth:`plan_update` then :meth:`apply_update`."""
        self.apply_update(self.plan_update(query, labels, similarity))
