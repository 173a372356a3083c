"""MemoryGAN as a keras.Model whose train_step reads like Algorithm 1.

One iteration:
  1. sample x, z ~ p(z) and memory slots c ~ p(c | v = 1)         (lines 2-3)
  2. D step: gradient descent on L_D (Eq. 7)                      (line 4)
  3. memory write with the real (y = 1) and generated (y = 0)
     queries of the D step: conditional top-k, reset or EM        (lines 5-11)
  4. sample new z, c; G step: gradient descent on L_G (Eq. 8)      (lines 12-13)

Distribution. Keras runs train_step once per replica. Noise and slots are drawn
for the *global* batch from a stateless seed (seed, step) and each replica takes
its slice, so a run on R replicas sees exactly the draws of a one-device run with
the same global batch. Losses are averaged over the global batch (each replica
divides by the global batch size; the optimizer sums gradients over replicas).
The memory is shared state: each replica plans its samples' writes, the plans are
all-gathered (real samples of all replicas first, then fake ones, i.e. the order
of the global batch) and every replica applies the same deterministic update to
its own copy, so all copies stay identical and equal to a one-device run.

The "- Memory" ablation (use_memory=False) is a plain DCGAN with the same networks
and a logit head; "- MCGN" (use_mcgn=False) feeds the generator z only and drops
the mutual-information term (there is no K_i to be informative about).

Training options (all off by default): d_steps D steps per G step (each on its own
slice of the real batch, each writing the memory), one-sided label smoothing,
feature matching and historical averaging in the losses (losses.py), and the
network options of networks.py.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from memorygan_tf import compat, losses
from memorygan_tf import memory as memory_lib
from memorygan_tf import networks

# Seed streams of the stateless generator, one per purpose within a step.
_D_STEP, _G_STEP = 0, 1


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


def _replica():
    ctx = tf.distribute.get_replica_context()
    return ctx, ctx.num_replicas_in_sync


class MemoryGAN(keras.Model):
    """DMN discriminator + MCGN generator (Sec. 3), or the ablations of Table 2."""

    def __init__(self, config, seed=0, jit_compile=False, precision="float32", **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.seed = int(seed)
        if jit_compile:
            # XLA for the network passes only: the slot sampler (stateless multinomial)
            # and the memory write (tf.unique, in-place scatters) have no XLA kernels.
            self._d_gradients = tf.function(self._d_gradients, jit_compile=True)
            self._g_gradients = tf.function(self._g_gradients, jit_compile=True)
        with networks.precision(precision):  # the memory below stays float32 whatever it is
            self.encoder = networks.build_encoder(config)
            self.generator = networks.build_generator(config)
            self.logit_head = None if config.use_memory else networks.build_logit_head(config)
            # Feature matching reads an intermediate encoder activation (same weights).
            self.feature_encoder = networks.feature_view(self.encoder) if config.feature_matching else None
        if config.use_memory:
            self.memory = memory_lib.Memory(
                size=config.memory_size, key_dim=config.key_dim, choose_k=config.choose_k,
                alpha=config.alpha, beta=config.beta, kappa=config.kappa, eps=config.eps,
                update_rule=config.update_rule, em_iterations=config.em_iterations,
                correct_in_top=config.correct_in_top, fill_empty=config.fill_empty,
                batch_write=config.batch_write, dtype=keras.config.floatx(), name="memory",
            )
        else:
            self.memory = None
        self.conditional = config.use_memory and config.use_mcgn
        # Historical averaging: running means of the parameters, one per trainable variable.
        self.d_averages, self.g_averages = [], []
        if config.historical_averaging > 0:
            self.d_averages = self._averages_of(self.discriminator_variables, "d_average")
            self.g_averages = self._averages_of(self.generator.trainable_variables, "g_average")
        # The global step drives the stateless RNG: restoring it restores the RNG.
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step", aggregation="none")
        names = ["d_loss", "g_loss", "d_real", "d_fake", "mi_loss"]
        if config.feature_matching:
            names.append("fm_loss")
        if config.use_memory:  # memory diagnostics of the D step's writes (Memory.write_statistics)
            names += ["mem_real_rate", "mem_reset_rate", "mem_entropy_s"]
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.built = True  # every sub-network is built at construction

    def call(self, latent, training=False):
        """The generator: latent [z, K_i] (or z) -> images."""
        return self.generator(latent, training=training)

    # ----------------------------------------------------------- set-up
    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def discriminator_variables(self):
        head = self.logit_head.trainable_variables if self.logit_head is not None else []
        return self.encoder.trainable_variables + head

    def build_optimizers(self):
        """Creates optimizer slots up front so a checkpoint can restore them."""
        self.d_optimizer.build(self.discriminator_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    # -------------------------------------------------------- sampling
    def _seed(self, purpose):
        step = tf.cast(tf.convert_to_tensor(self.step), tf.int64)
        return tf.stack([tf.constant(self.seed, tf.int64), step * 4 + purpose])

    def sample_latent(self, n, seed):
        """z ~ p(z) and, for the MCGN, slots c ~ p(c | v = 1) with their keys K_c.

        Returns (latent [n, generator_input_dim], slots [n] or None).
        """
        z_seed, c_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        shape = [n, self.config.z_dim]
        dtype = keras.backend.floatx()
        if self.config.z_distribution == "uniform":
            z = tf.random.stateless_uniform(shape, z_seed, minval=-1.0, maxval=1.0, dtype=dtype)
        else:
            z = tf.random.stateless_normal(shape, z_seed, dtype=dtype)
        if not self.conditional:
            return z, None
        slots, keys = self.memory.sample_keys(n, seed=c_seed)
        return tf.concat([z, keys], axis=-1), slots

    def _local_latent(self, local_batch, purpose, index=0):
        """This replica's slice of the global batch's latent draws (`index`: the D step)."""
        ctx, replicas = _replica()
        seed = self._seed(purpose)
        if index:
            seed = tf.cast(tf.random.experimental.stateless_fold_in(seed, index), tf.int64)
        latent, slots = self.sample_latent(local_batch * replicas, seed)
        if replicas > 1:
            start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local_batch
            latent = latent[start:start + local_batch]
        return latent

    def latent_from(self, z, slots=None, keys=None):
        """Generator input [z, K_slot] for given noise and slots (controlled generation).

        `keys` defaults to the memory's keys; the export passes its frozen snapshot.
        """
        if not self.conditional:
            return z
        keys = tf.convert_to_tensor(self.memory.keys) if keys is None else keys
        return tf.concat([z, tf.gather(keys, slots)], axis=-1)

    def generate(self, n, seed):
        """n images from the prior, reproducible from a stateless seed [2]."""
        latent, _ = self.sample_latent(n, tf.cast(seed, tf.int64))
        return self.generator(latent, training=False)

    # ----------------------------------------------------------- the DMN
    def encode(self, images, training):
        """(raw query mu(x), flattened intermediate features or None without feature matching)."""
        if self.feature_encoder is None:
            return self.encoder(images, training=training), None
        return tuple(self.feature_encoder(images, training=training))

    def discriminate(self, images, training):
        """Returns (log D(x), log(1 - D(x)), D(x), query); query is None without a memory."""
        return self.judge(self.encoder(images, training=training), training)

    def judge(self, features, training):
        """discriminate() from the encoder's output."""
        if self.memory is None:
            logit = self.logit_head(features, training=training)
            return tf.math.log_sigmoid(logit), tf.math.log_sigmoid(-logit), tf.sigmoid(logit), None
        query = self.memory.normalize(features)
        p_real = self.memory.read(query)
        return tf.math.log(p_real), tf.math.log(1.0 - p_real), p_real, query

    def mutual_information(self, latent, query):
        """I_hat (Eq. 6) of the generator input's keys and the queries, 0 without the MCGN."""
        if not self.conditional or query is None:
            return tf.zeros([], keras.backend.floatx())
        return losses.mutual_information(latent[:, self.config.z_dim:], query, self.config.kappa)

    @staticmethod
    def _global_mean(per_example):
        """Mean over the global batch when summed over replicas (distributed loss scaling)."""
        _, replicas = _replica()
        return tf.reduce_mean(per_example) / replicas

    @staticmethod
    def _global_batch_mean(values):
        """Mean over the global batch of per-example vectors, the same on every replica
        (an all-reduce, whose gradient is the all-reduce of the gradient)."""
        ctx, replicas = _replica()
        if replicas == 1:
            return tf.reduce_mean(values, axis=0)
        total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(values, axis=0))
        count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(tf.shape(values)[0], values.dtype))
        return total / count

    @staticmethod
    def _averages_of(variables, prefix):
        return [keras.Variable(tf.convert_to_tensor(v), trainable=False, aggregation="none",
                               name=f"{prefix}_{i}") for i, v in enumerate(variables)]

    @staticmethod
    def _update_averages(variables, averages, count):
        """Running mean over the `count` parameter values seen so far (historical averaging)."""
        for v, a in zip(variables, averages):
            a.assign_add((tf.convert_to_tensor(v) - tf.convert_to_tensor(a)) / count)

    def _history_penalty(self, variables, averages):
        """historical_averaging * ||theta - theta_bar||^2, scaled for the replicas' sum."""
        if not averages:
            return tf.zeros([], keras.backend.floatx())
        weight = self.config.historical_averaging / _replica()[1]
        return weight * losses.historical_averaging(variables, averages)

    # ------------------------------------------------------ train step
    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        d_steps = self.config.d_steps
        # d_steps D steps, each on its own slice of the real batch (the data pipeline
        # delivers d_steps batches per step, see data.make_dataset's `groups`).
        reals = tf.split(real, d_steps) if d_steps > 1 else [real]
        step = tf.cast(tf.convert_to_tensor(self.step), keras.backend.floatx())
        token = []  # orders this step's collectives (see _all_gather)
        for index, real_batch in enumerate(reals):
            # Algorithm 1 lines 2-4: D step on a real and a generated batch (Eq. 7).
            latent = self._local_latent(tf.shape(real_batch)[0], _D_STEP, index)
            d_grads, d_loss, d_real, d_fake, plans = self._d_gradients(real_batch, latent)
            self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator_variables))
            self._update_averages(self.discriminator_variables, self.d_averages, step * d_steps + index + 2)

            # Lines 5-11: write the D step's queries into the memory (after the gradient step).
            # One write of the real and generated batch (Algorithm 1), or, as the release,
            # the real and the generated batch as two writes.
            if self.memory is not None:
                reset_rate, entropy = self.memory.write_statistics(memory_lib.concat_plans(plans))
                self.trackers["mem_reset_rate"].update_state(reset_rate)
                self.trackers["mem_entropy_s"].update_state(entropy)
                if self.config.writes_per_step == 1:
                    token = self._write_memory(*plans, after=token)
                else:
                    token = self._write_memory(plans[0], after=token)
                    token = self._write_memory(plans[1], after=token)
            for name, value in dict(d_loss=d_loss, d_real=d_real, d_fake=d_fake).items():
                self.trackers[name].update_state(value)

        # Lines 12-13: G step with fresh noise and slots (Eq. 8).
        latent = self._local_latent(tf.shape(reals[-1])[0], _G_STEP)
        g_grads, g_loss, mi_g, fm_loss, g_plan = self._g_gradients(latent, real)
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
        self._update_averages(self.generator.trainable_variables, self.g_averages, step + 2)
        if g_plan is not None:  # the release's third write: the G step's generated batch
            self._write_memory(g_plan, after=token)
        self.step.assign_add(1)

        values = dict(g_loss=g_loss, mi_loss=mi_g)
        if self.config.feature_matching:
            values["fm_loss"] = fm_loss
        if self.memory is not None:
            values["mem_real_rate"] = tf.reduce_mean(tf.convert_to_tensor(self.memory.values))
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return compat.fit_outputs({name: tracker.result() for name, tracker in self.trackers.items()})

    def _d_gradients(self, real, latent):
        """Gradients of L_D (Eq. 7) and the memory's write plans; XLA-compiled with jit_compile.

        The encoder sees the real and the generated batch separately (batch norm
        statistics per batch, as in the release); the memory reads both in one pass.
        """
        replicas = _replica()[1]
        batch = tf.shape(real)[0]
        fake = self.generator(latent, training=True)
        with tf.GradientTape() as tape:
            if self.memory is None:
                log_d_real, log_1m_d_real, d_real, _ = self.discriminate(real, training=True)
                _, log_1m_d_fake, d_fake, q_fake = self.discriminate(fake, training=True)
                plans = None
            else:
                q_real = self.memory.normalize(self.encoder(real, training=True))
                q_fake = self.memory.normalize(self.encoder(fake, training=True))
                labels = tf.concat([tf.ones([batch], q_real.dtype), tf.zeros([batch], q_real.dtype)], 0)
                p_real, plan = self.memory.read_and_plan(tf.concat([q_real, q_fake], 0), labels)
                d_real, d_fake = p_real[:batch], p_real[batch:]
                log_d_real, log_1m_d_fake = tf.math.log(d_real), tf.math.log(1.0 - d_fake)
                log_1m_d_real = tf.math.log(1.0 - d_real)
                plans = (memory_lib.WritePlan(*[field[:batch] for field in plan]),
                         memory_lib.WritePlan(*[field[batch:] for field in plan]))
            mi_d = self.mutual_information(latent, q_fake)
            d_loss = self._global_mean(losses.discriminator_loss(log_d_real, log_1m_d_fake, log_1m_d_real,
                                                                 self.config.label_smoothing))
            d_total = (d_loss + self.config.mi_lambda * mi_d / replicas
                       + self._history_penalty(self.discriminator_variables, self.d_averages))
        grads = tape.gradient(d_total, self.discriminator_variables)
        return grads, d_loss * replicas, tf.reduce_mean(d_real), tf.reduce_mean(d_fake), plans

    def _g_gradients(self, latent, real=None):
        """Gradients of L_G (Eq. 8; plus feature matching and historical averaging if on),
        the loss terms and, with writes_per_step=3, the write plan of the generated batch
        (y = 0); XLA-compiled with jit_compile. `real` is used by feature matching only."""
        replicas = _replica()[1]
        plan = None
        with tf.GradientTape() as tape:
            fake = self.generator(latent, training=True)
            raw_fake, f_fake = self.encode(fake, training=True)
            if self.memory is not None and self.config.writes_per_step == 3:
                q_fake = self.memory.normalize(raw_fake)
                labels = tf.zeros([tf.shape(q_fake)[0]], q_fake.dtype)
                d_fake, plan = self.memory.read_and_plan(q_fake, labels)
                log_d_fake, log_1m_d_fake = tf.math.log(d_fake), tf.math.log(1.0 - d_fake)
            else:
                log_d_fake, log_1m_d_fake, _, q_fake = self.judge(raw_fake, training=True)
            mi_g = self.mutual_information(latent, q_fake)
            g_loss = self._global_mean(losses.generator_loss(log_d_fake, log_1m_d_fake, self.config.loss))
            fm_loss = tf.zeros([], g_loss.dtype)
            if f_fake is not None:
                f_real = tf.stop_gradient(self.encode(real, training=True)[1])
                fm_loss = losses.feature_matching(self._global_batch_mean(f_real), self._global_batch_mean(f_fake))
            g_total = (g_loss + (self.config.mi_lambda * mi_g + fm_loss) / replicas
                       + self._history_penalty(self.generator.trainable_variables, self.g_averages))
        grads = tape.gradient(g_total, self.generator.trainable_variables)
        return grads, g_loss * replicas, mi_g, fm_loss, plan

    def _write_memory(self, *plans, after=()):
        """Gathers the local plans of all replicas in global-batch order (each plan's samples
        of all replicas, plan after plan) and applies them everywhere as one write."""
        ctx, replicas = _replica()
        after = list(after)
        if replicas > 1:
            gathered = []
            for plan in plans:
                plan, token = _all_gather(ctx, plan, after)
                gathered.append(plan)
                after = [token]
            plans = gathered
        self.memory.apply_update(memory_lib.concat_plans(plans))
        return after


# Models the harness can train, by the name of the --model flag (configs.MODELS).
MODELS = {"memorygan": MemoryGAN}


def build(model_config, seed=0, jit_compile=False, precision="float32"):
    """The model named by `model_config.model`, built (peer GANs register in MODELS)."""
    if model_config.model not in MODELS:
        raise ValueError(f"unknown model {model_config.model!r}; registered: {', '.join(MODELS)}")
    return MODELS[model_config.model](model_config, seed=seed, jit_compile=jit_compile, precision=precision)
