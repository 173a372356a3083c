"""MemoryGAN (Kim, Kim & Kim, ICLR 2018): a DMN discriminator and an MCGN generator.

One iteration of Algorithm 1 (models.base.GAN.train_step runs the loop):
  1. sample x, z ~ p(z) and memory slots c ~ p(c | v = 1)         (lines 2-3)
  2. D step: gradient descent on L_D (Eq. 7)                      (line 4)
  3. memory write with the real (y = 1) and generated (y = 0)
     queries of the D step: conditional top-k, reset or EM        (lines 5-11)
  4. sample new z, c; G step: gradient descent on L_G (Eq. 8)      (lines 12-13)

The memory is shared state: under a distribution strategy each replica plans its
samples' writes, the plans are all-gathered (real samples of all replicas first, then
fake ones, i.e. the order of the global batch) and every replica applies the same
deterministic update to its own copy, so all copies stay identical and equal to a
one-device run.

"- MCGN" (use_mcgn=False) feeds the generator z only and drops the mutual-information
term (there is no K_i to be informative about). "- Memory" is the DCGAN (models/dcgan/).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import evaluation, losses, serving
from memorygan_tf.models import base
from memorygan_tf.models.memorygan import figures, report
from memorygan_tf.models.memorygan import memory as memory_lib


def _all_gather(ctx, plan, after=()):
    """All-gathers a write plan as ONE collective, issued after the tensors in `after`.

    The fields are packed into a single [B, F] tensor of the query's dtype (slot
    indices < 2^24 are exact in float32). One collective per plan, explicitly ordered,
    so replicas cannot issue their collectives in different orders: independent
    gathers have no data dependency, and a runtime that reorders them on one replica
    pairs mismatched collectives (seen with three writes per step).
    """
    dtype = plan.query.dtype
    k = plan.slots.shape[1]
    packed = tf.concat([plan.query, plan.labels[:, None], tf.cast(plan.slots, dtype), plan.scores,
                        tf.cast(plan.valid, dtype), tf.cast(plan.reset, dtype)[:, None]], axis=1)
    with tf.control_dependencies(list(after)):
        gathered = ctx.all_gather(packed, axis=0)
    m = plan.query.shape[1]
    query, labels, slots, scores, valid, reset = tf.split(gathered, [m, 1, k, k, k, 1], axis=1)
    return memory_lib.WritePlan(query, labels[:, 0], tf.cast(tf.round(slots), tf.int32), scores,
                                valid > 0.5, reset[:, 0] > 0.5), gathered


class MemorySnapshot(tf.Module):
    """Keys and the prior CDF of the memory at export time (non-trainable)."""

    def __init__(self, keys, prior):
        super().__init__(name="memory_snapshot")
        self.keys = tf.Variable(keys, trainable=False, name="keys")
        self.prior_cdf = tf.Variable(np.cumsum(prior).astype(np.float32), trainable=False, name="prior_cdf")


class MemoryGAN(base.GAN):
    """DMN discriminator + MCGN generator (Sec. 3), or the "- EM" / "- MCGN" ablations."""

    clusters = True  # test images cluster over slots (argmax posterior)
    cluster_control = "slot"

    def build_state(self):
        c = self.config
        self.memory = memory_lib.Memory(
            size=c.memory_size, key_dim=c.key_dim, choose_k=c.choose_k, alpha=c.alpha, beta=c.beta,
            kappa=c.kappa, eps=c.eps, update_rule=c.update_rule, em_iterations=c.em_iterations,
            correct_in_top=c.correct_in_top, fill_empty=c.fill_empty, batch_write=c.batch_write,
            prior_temperature=c.prior_temperature, dtype=keras.config.floatx(), name="memory",
        )

    @property
    def conditional(self):
        """Whether the generator reads memory keys (the MCGN; False for "- MCGN")."""
        return self.config.use_mcgn

    @property
    def controls(self):
        if not self.conditional:
            return {}
        return {"slot": base.Control("int32", self.config.memory_size, "memory slot whose key K_i the "
                                     "generator reads")}

    def generator_input_dim(self):
        return self.config.z_dim + (self.config.key_dim if self.config.use_mcgn else 0)

    def extra_metric_names(self):
        # memory diagnostics of the D step's writes (Memory.write_statistics)
        return ("mem_real_rate", "mem_reset_rate", "mem_entropy_s")

    @property
    def info_weight(self):
        return self.config.mi_lambda

    # -------------------------------------------------------- sampling
    def sample_controls(self, n, seed):
        """Slots c ~ p(c | v = 1) and their keys K_c (Sec. 3.2), for the MCGN."""
        if not self.conditional:
            return None, {}
        slots, keys = self.memory.sample_keys(n, seed=seed)
        return keys, {"slot": slots}

    def latent_from(self, z, slot=None, keys=None):
        """Generator input [z, K_slot] for given noise and slots (controlled generation).

        `keys` defaults to the memory's keys; the export passes its frozen snapshot.
        """
        if not self.conditional:
            return z
        keys = tf.convert_to_tensor(self.memory.keys) if keys is None else keys
        return tf.concat([z, tf.gather(keys, slot)], axis=-1)

    # ----------------------------------------------------------- the DMN
    def judge(self, features):
        """(log D(x), log(1 - D(x)), D(x), query) from the encoder's output: the memory's
        read (Eqs. 2-4)."""
        query = self.memory.normalize(features)
        p_real = self.memory.read(query)
        return tf.math.log(p_real), tf.math.log(1.0 - p_real), p_real, query

    def mutual_information(self, latent, features):
        """The MCGN's information term on the generated batch (0 without the MCGN), from the
        encoder's raw output `features`: `mi_form=paper` is I_hat of Eq. 6 on the normalised
        query, `release` the release's mean squared error against the raw output."""
        if not self.conditional or features is None:
            return tf.zeros([], keras.backend.floatx())
        keys = latent[:, self.config.z_dim:]
        if self.config.mi_form == "release":
            return losses.release_information(keys, tf.cast(features, keys.dtype))
        return losses.mutual_information(keys, self.memory.normalize(features), self.config.kappa)

    def discriminate_pair(self, real, fake, latent):
        """The D step's reads (Eq. 7's terms) and write plans: the encoder sees the real and
        the generated batch separately (batch norm statistics per batch, as in the
        release); the memory reads both in one pass."""
        batch = tf.shape(real)[0]
        q_real = self.memory.normalize(self.encoder(real, training=True))
        raw_fake = self.encoder(fake, training=True)
        q_fake = self.memory.normalize(raw_fake)
        labels = tf.concat([tf.ones([batch], q_real.dtype), tf.zeros([batch], q_real.dtype)], 0)
        p_real, plan = self.memory.read_and_plan(tf.concat([q_real, q_fake], 0), labels)
        d_real, d_fake = p_real[:batch], p_real[batch:]
        plans = (memory_lib.WritePlan(*[field[:batch] for field in plan]),
                 memory_lib.WritePlan(*[field[batch:] for field in plan]))
        return base.DiscriminatorOutputs(tf.math.log(d_real), tf.math.log(1.0 - d_real), tf.math.log(1.0 - d_fake),
                                         d_real, d_fake, info=self.mutual_information(latent, raw_fake), aux=plans)

    def judge_generated(self, raw_fake, latent):
        """The G step's read (Eq. 8's terms); with writes_per_step=3 also the write plan of
        the generated batch (y = 0), the release's third write."""
        plan = None
        if self.config.writes_per_step == 3:
            q_fake = self.memory.normalize(raw_fake)
            labels = tf.zeros([tf.shape(q_fake)[0]], q_fake.dtype)
            d_fake, plan = self.memory.read_and_plan(q_fake, labels)
            log_d_fake, log_1m_d_fake = tf.math.log(d_fake), tf.math.log(1.0 - d_fake)
        else:
            log_d_fake, log_1m_d_fake, _, _ = self.judge(raw_fake)
        return base.GeneratorOutputs(log_d_fake, log_1m_d_fake, info=self.mutual_information(latent, raw_fake),
                                     aux=plan)

    # ------------------------------------------------- the memory write
    def after_discriminator_step(self, plans, token):
        """Lines 5-11: write the D step's queries into the memory (after the gradient step).
        One write of the real and generated batch (Algorithm 1), or, as the release, the two
        batches as two writes from the memory before the step: their resets both draw on
        the oldest slots before the step (sample b of either batch takes the b-th of them),
        both age the memory before either writes (the release's two age increments run
        before its scatters), and the second write's rows replace the first's where they
        meet. --d_write_order picks the second: real_first (default) writes the generated
        batch last. The release runs both writes in one sess.run as independent ops, so
        their order is TensorFlow's choice; in its training graph, its first D step from
        the initial memory kept the generated write's keys, labels and histogram on the
        slots both write in 15 of 20 runs (tools/release_reference.py step --repeats=20),
        the outcome real_first gives."""
        reset_rate, entropy = self.memory.write_statistics(memory_lib.concat_plans(plans))
        self.trackers["mem_reset_rate"].update_state(reset_rate)
        self.trackers["mem_entropy_s"].update_state(entropy)
        if self.config.writes_per_step == 1:
            return self.write_memory(*plans, after=token)
        real, generated = plans
        oldest = self.release_reset_slots(real)
        first, second = (real, generated) if self.config.d_write_order == "real_first" else (generated, real)
        token = self.write_memory(first, after=token, oldest=oldest, age_by=2.0)
        return self.write_memory(second, after=token, oldest=oldest, age_by=0.0)

    def after_generator_step(self, plan, token):
        if plan is not None:  # the release's third write: the G step's generated batch
            self.write_memory(plan, after=token, oldest=self.release_reset_slots(plan))

    def release_reset_slots(self, plan):
        """The oldest slots now, one per sample of the global batch of `plan` (a replica's):
        where the release's writes put their resets, sample b the b-th."""
        _, replicas = base.replica()
        return self.memory.oldest_slots(tf.shape(plan.reset)[0] * replicas)

    def step_values(self):
        return dict(mem_real_rate=tf.reduce_mean(tf.convert_to_tensor(self.memory.values)))

    def write_memory(self, *plans, after=(), oldest=None, age_by=1.0):
        """Gathers the local plans of all replicas in global-batch order (each plan's samples
        of all replicas, plan after plan) and applies them everywhere as one write
        (`oldest`: the release's reset slots, one per sample of the global batch; `age_by`:
        Memory.apply_update's)."""
        ctx, replicas = base.replica()
        after = list(after)
        if replicas > 1:
            gathered = []
            for plan in plans:
                plan, token = _all_gather(ctx, plan, after)
                gathered.append(plan)
                after = [token]
            plans = gathered
        self.memory.apply_update(memory_lib.concat_plans(plans), oldest, age_by)
        return after

    # ------------------------------------------------------ the harness
    @property
    def figures(self):
        """Also the figures of the memory (figures.py); slots needs the MCGN."""
        own = ("posterior", "prior", "likelihood", "neighbors") + (("slots",) if self.conditional else ())
        return super().figures + own

    def diagnostics(self):
        return self.memory.statistics()

    def epoch_summaries(self, step):
        tf.summary.histogram("memory/histogram", self.memory.histogram, step=step)
        tf.summary.histogram("memory/ages", self.memory.ages, step=step)
        health = report.memory_health(self.memory.keys.numpy(), self.memory.values.numpy(),
                                          self.memory.histogram.numpy(), self.memory.prior_temperature)
        for name, value in dataclasses.asdict(health).items():
            tf.summary.scalar(f"memory/{name}", value, step=step)
        if self.conditional:  # what the most probable slots generate
            grid, _ = figures.slots_grid(self)
            tf.summary.image("slots", grid[np.newaxis], step=step)

    def evaluation_report(self, x_test, y_test):
        out = report.memory_report(self, x_test)
        out.update(evaluation.clustering_report(self, x_test, y_test))
        return out

    def cluster_scores(self, images):
        """The unnormalised log posterior of every slot (Eq. 1): an image's cluster is its
        argmax posterior slot."""
        return self.memory.log_joint(self.memory.normalize(self.encoder(images, training=False)))

    def cluster_weights(self):
        """The MCGN prior's mass (h v)^(1/T) of every slot (Sec. 3.2; T = prior_temperature)."""
        return report.prior_mass(self.memory.histogram.numpy(), self.memory.values.numpy(),
                                     self.memory.prior_temperature)

    def add_serving_endpoints(self, archive, z_spec):
        """serve(z) and sample(z, seed) -> {"images", "slots"}: each row's MCGN slot drawn from
        the memory prior p(c) ~ h v (Sec. 3.2) by inverse-CDF sampling, with a uniform
        hashed from that row's z (serve: the same z always gives the same image) or drawn
        from the seed (sample); generate_from_slot(z, slot) -> {"images"}. Without the MCGN
        the generator reads z only: `slots` are -1 and generate_from_slot ignores its slots."""
        conditional = self.conditional
        if conditional:
            logits = self.memory.prior_logits().numpy().astype(np.float64)
            prior = np.exp(logits - logits.max())
            prior /= prior.sum()
            snapshot = MemorySnapshot(self.memory.keys.numpy(), prior)
            archive.track(snapshot)

        def from_slots(z, slots):
            return serving.images_from(self, self.latent_from(z, slots, keys=snapshot.keys if conditional else None))

        def slots_for(uniform):
            if not conditional:
                return -tf.ones_like(uniform, tf.int32)
            return serving.inverse_cdf(snapshot.prior_cdf, uniform)

        def generate_from_slot(z, slot):
            if conditional:
                slot = serving.in_range(slot, tf.shape(snapshot.keys, out_type=tf.int32)[0],
                                        "input slot must lie in [0, memory_size)")
            return {"images": from_slots(serving.finite(z), slot)}

        serving.add_prior_endpoints(archive, z_spec, slots_for, from_slots, "slots")
        archive.add_endpoint("generate_from_slot", generate_from_slot, input_signature=[
            z_spec, tf.TensorSpec([None], tf.int32, name="slot")])
