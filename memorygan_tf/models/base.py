"""The GAN interface: what the harness may use of a model, and the train step all GANs share.

The harness (trainer, callbacks, checkpoints, export, evaluation, figures, study and
tuner) uses a model only through the members of :class:`GAN` below, and nothing else:

* ``config`` (the frozen ModelConfig), ``step`` (the global step; it drives the
  stateless RNG, so restoring it restores the RNG), ``generator`` (latent -> images);
* ``noise_dim`` and :meth:`generate` / :meth:`sample_latent` / :meth:`latent_from`:
  the latent it serves is [z, controls], ``controls`` names the controls a caller may
  set (the memory slot of MemoryGAN, the codes of InfoGAN; none for the DCGAN);
* ``optimizer_names``, :meth:`compile` (one optimizer per name), :meth:`build_optimizers`,
  :meth:`checkpoint_items` (everything a resume needs);
* ``needs_data_index`` (the data stream yields (images, their indices in the training
  set)), :meth:`prepare_training` (state sized by the training set, made before a
  restore) and :meth:`training_callbacks` (work between steps, e.g. MIC-GANs' CRP rounds);
* :meth:`diagnostics` (scalars at log steps), :meth:`epoch_summaries` (histograms and
  images at epoch ends), :meth:`evaluation_report` (model-specific scores of the test set);
* :meth:`add_serving_endpoints` (its SavedModel signatures);
* :meth:`generator_weights` (the generator's moving average or its trained weights, for
  whatever generates, scores or exports: --weights);
* ``figures`` (the subcommands of tools/visualize.py it offers);
* ``clusters``, :meth:`assign` (images -> cluster id, weight of each cluster),
  :meth:`cluster_weights` and ``cluster_control`` (the control that generates from a
  cluster), for the GANs that cluster data (InfoGAN's categorical code, MemoryGAN's slots).

Every GAN here has the same two players: a generator and a discriminator whose trunk is
the encoder of networks.py; a subclass supplies the heads on that trunk through
:meth:`discriminate_pair` (the D step's outputs on a real and a generated batch) and
:meth:`judge_generated` (the G step's), each with an information term that both losses
add with weight ``info_weight`` (MemoryGAN's Eq. 6, InfoGAN's lower bound). The train
step below is Algorithm 1 of the MemoryGAN paper, which is the GAN loop of Goodfellow et
al. (2014) with hooks after the D and G steps (MemoryGAN writes its memory there).

Distribution. Keras runs train_step once per replica. Noise and controls are drawn for
the *global* batch from a stateless seed (seed, step) and each replica takes its slice,
so a run on R replicas sees exactly the draws of a one-device run with the same global
batch. Losses are averaged over the global batch (each replica divides by the global
batch size; the optimizer sums gradients over replicas).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import compat, configs, losses, networks

# Seed streams of the stateless generator, one per purpose within a step.
D_STEP, G_STEP = 0, 1


def replica():
    """(replica context, replicas in sync)."""
    ctx = tf.distribute.get_replica_context()
    return ctx, ctx.num_replicas_in_sync


def broadcast_from_first(strategy, values_fn):
    """The values replica 0 computes, on every replica of every worker: each replica calls
    `values_fn(replica_context)` (a list of tensors) and an all-reduce of the values
    masked to replica 0 hands them to all. For state computed on the host between steps
    (MIC-GANs' CRP round): under MultiWorkerMirroredStrategy every worker computes it, and
    only the first worker's result is kept, so workers whose float results differ
    (another CPU) cannot diverge. Returns numpy arrays (replica 0's local copy)."""
    return [copies[0] for copies in broadcast_copies(strategy, values_fn)]


def broadcast_copies(strategy, values_fn):
    """broadcast_from_first's values as every local replica holds them: per value, a
    list of numpy arrays, one per local replica."""

    def broadcast():
        ctx = tf.distribute.get_replica_context()
        first = tf.equal(ctx.replica_id_in_sync_group, 0)
        out = []
        for value in values_fn(ctx):
            value = tf.convert_to_tensor(value)
            masked = tf.where(first, tf.cast(value, tf.float64), tf.zeros_like(value, tf.float64))
            out.append(tf.cast(ctx.all_reduce(tf.distribute.ReduceOp.SUM, masked), value.dtype))
        return out

    results = strategy.run(tf.function(broadcast))
    return [[copy.numpy() for copy in strategy.experimental_local_results(r)] for r in results]


@dataclasses.dataclass(frozen=True)
class Control:
    """A named part of the generator input that a caller may set (serving, figures)."""

    dtype: str  # "int32": an index in [0, size); "float32": a vector of `size` values
    size: int
    help: str


@dataclasses.dataclass
class DiscriminatorOutputs:
    """What the D step needs of a model's heads on a real and a generated batch."""

    log_d_real: Any
    log_1m_d_real: Any
    log_1m_d_fake: Any
    d_real: Any
    d_fake: Any
    info: Any  # the information term on the generated batch (unweighted scalar)
    aux: Any = None  # passed to after_discriminator_step (MemoryGAN: its write plans)
    penalty: Any = 0.0  # added to the D loss as is (already a global-batch mean: MIC-GANs' R1)


@dataclasses.dataclass
class GeneratorOutputs:
    """What the G step needs of a model's heads on a generated batch."""

    log_d_fake: Any
    log_1m_d_fake: Any
    info: Any
    aux: Any = None  # passed to after_generator_step


class WeightCopies(keras.layers.Layer):
    """Copies of some variables as this layer's non-trainable weights (initialised to their
    values): running averages of parameters. aggregation "none": each replica applies the
    same update to its own copy from identical (mirrored) parameters."""

    def __init__(self, variables, name):
        super().__init__(name=name)
        self.copies = []
        for i, v in enumerate(variables):
            value = np.array(keras.ops.convert_to_numpy(v))
            copy = self.add_weight(shape=value.shape, dtype=str(value.dtype), trainable=False, aggregation="none",
                                   name=f"{name}_{i}", initializer=keras.initializers.Constant(value))
            setattr(self, f"copy_{i}", copy)  # an attribute each: checkpoints save attributes, not lists
            self.copies.append(copy)
        self.built = True


class GAN(keras.Model):
    """Base of every model the harness trains (see the module docstring)."""

    clusters = False  # True: assign() maps images to clusters
    cluster_control = None  # the control whose value picks the cluster to generate from
    optimizer_names = ("d_optimizer", "g_optimizer")
    needs_data_index = False  # True: train_step reads (images, indices) (data.make_dataset's with_index)

    def __init__(self, config, seed=0, jit_compile=False, precision="float32", **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.seed = int(seed)
        if jit_compile:
            # XLA for the network passes only (samplers and the memory write have no XLA kernels).
            self.discriminator_gradients = tf.function(self.discriminator_gradients, jit_compile=True)
            self.generator_gradients = tf.function(self.generator_gradients, jit_compile=True)
        with networks.precision(precision):  # state outside the networks stays float32
            self.encoder = networks.build_encoder(config)
            self.generator = self.build_generator()
            self.build_heads()
            # Feature matching reads an intermediate encoder activation (same weights).
            self.feature_encoder = networks.feature_view(self.encoder) if config.feature_matching else None
        self.build_state()
        # Historical averaging: running means of the parameters, one per trainable variable.
        self.d_averages, self.g_averages = [], []
        if config.historical_averaging > 0:
            self.d_averages = self._averages_of(self.discriminator_variables, "d_average")
            self.g_averages = self._averages_of(self.generator.trainable_variables, "g_average")
        # The generator's exponential moving average (every float weight, batch-norm statistics
        # included), updated after each G step: evaluation scores it beside the trained weights.
        self.g_ema = self._averages_of(self.ema_tracked_weights, "g_ema") if config.g_ema_decay > 0 else []
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step", aggregation="none")
        names = ["d_loss", "g_loss", "d_real", "d_fake", "mi_loss"]
        if config.feature_matching:
            names.append("fm_loss")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names + list(self.extra_metric_names())}
        self.built = True  # every sub-network is built at construction

    # ------------------------------------------------ what a subclass supplies
    @property
    def controls(self):
        """{name: Control} of the generator input besides z (none for the plain GAN)."""
        return {}

    @property
    def noise_dim(self):
        return self.config.z_dim

    def generator_input_dim(self):
        """Width of the generator input [z, controls]."""
        return self.noise_dim

    def build_generator(self):
        """The generator of [z, controls] (called in the precision scope)."""
        return networks.build_generator(self.config, self.generator_input_dim())

    def build_heads(self):
        """Creates the discriminator's heads on the encoder (called in the precision scope)."""

    def build_state(self):
        """Creates non-trainable state beside the networks (MemoryGAN: the memory)."""

    def extra_metric_names(self):
        return ()

    @property
    def head_variables(self):
        return []

    @property
    def info_weight(self):
        """Weight of the information term in both losses (0: no term)."""
        return 0.0

    def sample_controls(self, n, seed):
        """(controls part of the generator input [n, d] or None, {name: values})."""
        return None, {}

    def latent_from(self, z, **controls):
        """Generator input for given noise and controls (controlled generation)."""
        return z

    def discriminate_pair(self, real, fake, latent):
        raise NotImplementedError

    def judge_generated(self, raw_fake, latent):
        raise NotImplementedError

    def training_latent(self, local_batch, purpose, index, data_index):
        """The generator input of a training step's D (`index`) or G step; `data_index`:
        the real batch's indices in the training set (None unless needs_data_index)."""
        return self.local_latent(local_batch, purpose, index)

    def prepare_training(self, images):
        """Creates state sized by the training images (called in the strategy scope,
        before a checkpoint is restored)."""

    def training_callbacks(self, images, output_activation):
        """Keras callbacks the trainer adds for this model (they run before the harness's)."""
        return []

    def after_discriminator_step(self, aux, token):
        """Runs after each D step's update; returns the ordering token of collectives."""
        return token

    def after_generator_step(self, aux, token):
        """Runs after the G step's update."""
        del aux, token  # a statement: AutoGraph cannot convert a body that is only a docstring

    def step_values(self):
        """Extra per-step values for the trackers."""
        return {}

    def diagnostics(self):
        """{name: scalar} logged to TensorBoard every --log_every_steps."""
        return {}

    def epoch_summaries(self, step):
        """Writes histograms and images to the default summary writer at an epoch end."""

    def evaluation_report(self, x_test, y_test):
        """Model-specific scores of the (uint8) test set, merged into an evaluation."""
        return {}

    def add_serving_endpoints(self, archive, z_spec):
        """Adds the model's signatures to a keras.export.ExportArchive (export.py); every
        model has serve(z) and sample(z, seed), plus one per control (README)."""
        raise NotImplementedError

    @property
    def figures(self):
        """The tools/visualize.py subcommands this model offers: every GAN's samples and z
        interpolation, clusters where it clusters, and a subclass adds its own."""
        return ("samples", "interpolate") + (("clusters",) if self.clusters else ())

    def cluster_weights(self):
        """The weight of every cluster [K] (its prior share). Only where ``clusters``."""
        raise NotImplementedError(f"{type(self).__name__} does not cluster images")

    def cluster_scores(self, images):
        """[n, K] scores whose argmax is each image's cluster. Only where ``clusters``."""
        raise NotImplementedError(f"{type(self).__name__} does not cluster images")

    def assign(self, images, clusters=None, batch_size=1000):
        """(cluster id per image [n], weight per cluster [K]) for images in the model's
        range: the argmax of cluster_scores, over all clusters or the ids in `clusters`."""
        if not self.clusters:
            raise NotImplementedError(f"{type(self).__name__} does not cluster images")
        ids = []
        for start in range(0, len(images), batch_size):
            scores = self.cluster_scores(images[start:start + batch_size])
            if clusters is not None:
                scores = tf.gather(scores, clusters, axis=1)
            ids.append(tf.argmax(scores, axis=1, output_type=tf.int32).numpy())
        ids = np.concatenate(ids)
        if clusters is not None:
            ids = np.asarray(clusters)[ids]
        return ids, self.cluster_weights()

    # ------------------------------------------------------------ set-up
    def call(self, latent, training=False):
        """The generator: latent -> images."""
        return self.generator(latent, training=training)

    def compile(self, *optimizers, **kwargs):
        """One optimizer per name of ``optimizer_names``, in that order."""
        if len(optimizers) != len(self.optimizer_names):
            raise TypeError(f"{type(self).__name__} takes {len(self.optimizer_names)} optimizers "
                            f"({', '.join(self.optimizer_names)}), got {len(optimizers)}")
        super().compile(**kwargs)
        for name, optimizer in zip(self.optimizer_names, optimizers):
            setattr(self, name, optimizer)

    @property
    def optimizers(self):
        return {name: getattr(self, name) for name in self.optimizer_names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def discriminator_variables(self):
        return self.encoder.trainable_variables + self.head_variables

    def build_optimizers(self):
        """Creates optimizer slots up front so a checkpoint can restore them."""
        self.d_optimizer.build(self.discriminator_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def checkpoint_items(self):
        """Everything a resume needs: networks, state, step (= RNG state), optimizers."""
        return dict(model=self, **self.optimizers)

    # -------------------------------------------------------- sampling
    def _seed(self, purpose):
        step = tf.cast(tf.convert_to_tensor(self.step), tf.int64)
        return tf.stack([tf.constant(self.seed, tf.int64), step * 4 + purpose])

    def sample_noise(self, n, seed):
        shape = [n, self.config.z_dim]
        dtype = keras.backend.floatx()
        if self.config.z_distribution == "uniform":
            return tf.random.stateless_uniform(shape, seed, minval=-1.0, maxval=1.0, dtype=dtype)
        return tf.random.stateless_normal(shape, seed, dtype=dtype)

    def sample_latent(self, n, seed):
        """z ~ p(z) and the controls ~ their prior; returns (latent [n, input dim], {name: values})."""
        z_seed, c_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        z = self.sample_noise(n, z_seed)
        part, controls = self.sample_controls(n, c_seed)
        return (z if part is None else tf.concat([z, part], axis=-1)), controls

    def local_latent(self, local_batch, purpose, index=0):
        """This replica's slice of the global batch's latent draws (`index`: the D step)."""
        seed = self._seed(purpose)
        if index:
            seed = tf.cast(tf.random.experimental.stateless_fold_in(seed, index), tf.int64)
        return self.local_draw(local_batch, seed)

    def local_draw(self, local_batch, seed):
        """This replica's slice of one global draw of local_batch x replicas latents from a
        stateless seed: every replica draws the same global batch, so the replicas together
        see what one device would."""
        ctx, replicas = replica()
        latent, _ = self.sample_latent(local_batch * replicas, seed)
        if replicas > 1:
            start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local_batch
            latent = latent[start:start + local_batch]
        return latent

    def generate(self, n, seed):
        """n images from the prior, reproducible from a stateless seed [2]."""
        latent, _ = self.sample_latent(n, tf.cast(seed, tf.int64))
        return self.generator(latent, training=False)

    # ---------------------------------------------------------- helpers
    def encode(self, images, training):
        """(raw encoder output, flattened intermediate features or None without feature matching)."""
        if self.feature_encoder is None:
            return self.encoder(images, training=training), None
        return tuple(self.feature_encoder(images, training=training))

    @staticmethod
    def _global_mean(per_example):
        """Mean over the global batch when summed over replicas (distributed loss scaling)."""
        return tf.reduce_mean(per_example) / replica()[1]

    @staticmethod
    def _global_batch_mean(values):
        """Mean over the global batch of per-example vectors, the same on every replica
        (an all-reduce, whose gradient is the all-reduce of the gradient)."""
        ctx, replicas = replica()
        if replicas == 1:
            return tf.reduce_mean(values, axis=0)
        total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(values, axis=0))
        count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(tf.shape(values)[0], values.dtype))
        return total / count

    def _averages_of(self, variables, prefix):
        """Non-trainable copies of `variables`, held by a layer of their own so that
        checkpoints save them (a plain list attribute of a Keras 3 model is not saved)."""
        layer = WeightCopies(variables, name=prefix)
        setattr(self, f"_{prefix}_layer", layer)
        return layer.copies

    @staticmethod
    def _update_averages(variables, averages, count):
        """Running mean over the `count` parameter values seen so far (historical averaging)."""
        for v, a in zip(variables, averages):
            a.assign_add((tf.convert_to_tensor(v) - tf.convert_to_tensor(a)) / count)

    @property
    def ema_tracked_weights(self):
        """The generator weights the moving average follows: every float one, in order."""
        return [w for w in self.generator.weights if "float" in str(w.dtype)]

    @property
    def has_ema(self):
        """Whether the model keeps a moving average of its generator (--g_ema_decay > 0)."""
        return bool(self.g_ema)

    def update_ema(self, step):
        """theta_ema <- d_t theta_ema + (1 - d_t) theta after the G step of step `step` (0-based),
        with d_t = min(g_ema_decay, (1 + t) / (10 + t)): the warm-up of
        tf.train.ExponentialMovingAverage's num_updates, so that an average taken early is
        not dominated by the initial weights."""
        decay = tf.minimum(tf.constant(self.config.g_ema_decay, step.dtype), (1.0 + step) / (10.0 + step))
        for weight, average in zip(self.ema_tracked_weights, self.g_ema):
            value = tf.convert_to_tensor(weight)
            d = tf.cast(decay, value.dtype)
            average.assign(d * tf.convert_to_tensor(average) + (1.0 - d) * value)

    @contextlib.contextmanager
    def ema_generator(self):
        """Within the block the generator holds its moving average (the trained weights are
        put back on exit, also on an error). Raises ValueError without --g_ema_decay."""
        if not self.g_ema:
            raise ValueError("the model keeps no moving average of its generator (--g_ema_decay=0)")
        weights = self.ema_tracked_weights
        trained = [np.array(w.numpy()) for w in weights]
        for weight, average in zip(weights, self.g_ema):
            weight.assign(average.numpy())
        try:
            yield self
        finally:
            for weight, value in zip(weights, trained):
                weight.assign(value)

    def generator_weights(self, choice="auto"):
        """A context manager within which the generator holds the weights `choice` picks
        (configs.GENERATOR_WEIGHTS): "ema" its moving average (:meth:`ema_generator`), "trained" the
        trained weights, "auto" the average where the model keeps one, else the trained
        weights. Entering it gives what is used, "ema" or "trained". Raises
        configs.ConfigError naming --weights, at the call, for an unknown choice and for
        "ema" of a model that keeps no average (--g_ema_decay=0)."""
        configs.check_generator_weights(choice)
        if choice == "ema" and not self.has_ema:
            raise configs.ConfigError("weights", "the run keeps no moving average of its generator (it was "
                                      "trained with --g_ema_decay=0); use --weights=trained")
        if choice == "trained" or not self.has_ema:
            return contextlib.nullcontext("trained")
        return self._averaged("ema")

    @contextlib.contextmanager
    def _averaged(self, used):
        with self.ema_generator():
            yield used

    def history_penalty(self, variables, averages):
        """historical_averaging * ||theta - theta_bar||^2, scaled for the replicas' sum."""
        if not averages:
            return tf.zeros([], keras.backend.floatx())
        weight = self.config.historical_averaging / replica()[1]
        return weight * losses.historical_averaging(variables, averages)

    # ------------------------------------------------------ train step
    def train_step(self, data):
        real, data_index = data, None
        if isinstance(data, (tuple, list)):
            real, data_index = data[0], (data[1] if self.needs_data_index else None)
        d_steps = self.config.d_steps
        # d_steps D steps, each on its own slice of the real batch (the data pipeline
        # delivers d_steps batches per step, see data.make_dataset's `groups`).
        reals = tf.split(real, d_steps) if d_steps > 1 else [real]
        indices = tf.split(data_index, d_steps) if d_steps > 1 and data_index is not None else [data_index] * d_steps
        step = tf.cast(tf.convert_to_tensor(self.step), keras.backend.floatx())
        token = []  # orders this step's collectives
        for index, (real_batch, batch_index) in enumerate(zip(reals, indices)):
            # D step on a real and a generated batch.
            latent = self.training_latent(tf.shape(real_batch)[0], D_STEP, index, batch_index)
            d_grads, d_loss, d_real, d_fake, aux = self.discriminator_gradients(real_batch, latent)
            self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator_variables))
            self._update_averages(self.discriminator_variables, self.d_averages, step * d_steps + index + 2)
            token = self.after_discriminator_step(aux, token)
            for name, value in dict(d_loss=d_loss, d_real=d_real, d_fake=d_fake).items():
                self.trackers[name].update_state(value)

        # G step with fresh noise and controls.
        latent = self.training_latent(tf.shape(reals[-1])[0], G_STEP, 0, indices[-1])
        g_grads, g_loss, info_g, fm_loss, aux = self.generator_gradients(latent, real)
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
        self._update_averages(self.generator.trainable_variables, self.g_averages, step + 2)
        if self.g_ema:
            self.update_ema(step)
        self.after_generator_step(aux, token)
        self.step.assign_add(1)

        values = dict(g_loss=g_loss, mi_loss=info_g)
        if self.config.feature_matching:
            values["fm_loss"] = fm_loss
        values.update(self.step_values())
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return compat.fit_outputs({name: tracker.result() for name, tracker in self.trackers.items()})

    def discriminator_gradients(self, real, latent):
        """Gradients of the D loss (MemoryGAN's Eq. 7 with its information term) and the
        D-step outputs the after-step hook needs; XLA-compiled with jit_compile."""
        replicas = replica()[1]
        fake = self.generator(latent, training=True)
        with tf.GradientTape() as tape:
            out = self.discriminate_pair(real, fake, latent)
            d_loss = self._global_mean(losses.discriminator_loss(out.log_d_real, out.log_1m_d_fake,
                                                                 out.log_1m_d_real, self.config.label_smoothing))
            d_total = (d_loss + self.info_weight * out.info / replicas + out.penalty
                       + self.history_penalty(self.discriminator_variables, self.d_averages))
        grads = tape.gradient(d_total, self.discriminator_variables)
        return grads, d_loss * replicas, tf.reduce_mean(out.d_real), tf.reduce_mean(out.d_fake), out.aux

    def generator_gradients(self, latent, real=None):
        """Gradients of the G loss (Eq. 8 with the information term; plus feature matching
        and historical averaging if on), the loss terms and the G-step outputs the
        after-step hook needs. `real` is used by feature matching only."""
        replicas = replica()[1]
        with tf.GradientTape() as tape:
            fake = self.generator(latent, training=True)
            raw_fake, f_fake = self.encode(fake, training=True)
            out = self.judge_generated(raw_fake, latent)
            g_loss = self._global_mean(losses.generator_loss(out.log_d_fake, out.log_1m_d_fake, self.config.loss))
            fm_loss = tf.zeros([], g_loss.dtype)
            if f_fake is not None:
                f_real = tf.stop_gradient(self.encode(real, training=True)[1])
                fm_loss = losses.feature_matching(self._global_batch_mean(f_real), self._global_batch_mean(f_fake))
            g_total = (g_loss + (self.info_weight * out.info + fm_loss) / replicas
                       + self.history_penalty(self.generator.trainable_variables, self.g_averages))
        grads = tape.gradient(g_total, self.generator.trainable_variables)
        return grads, g_loss * replicas, out.info, fm_loss, out.aux
