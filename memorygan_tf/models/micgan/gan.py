"""MIC-GANs (Yin et al., ICCV 2021): a mixture of conditional GANs whose modes a Chinese
Restaurant Process finds in the data, trained by the Adversarial CRP (their Algorithm 1).

One generator reads [z, one_hot(k)] for a mode k of the truncation K and runs its
network on z + e_k, a learned embedding of mode k initialised N(0, I) like z (the
authors' "embedding_add" conditioning; networks.build_generator's `modes`); the
discriminator's trunk is the DCGAN's encoder with
K + 1 logits, the first unconditional and one per mode (their masked logits); a separate
mode encoder Q (Eq. 12; networks.build_mode_encoder) maps images into a K-dimensional
space where each mode is a Gaussian N(mu_k, Sigma_k).

The schedule, counted in steps (`micgan_*` options; the authors' values in their help):

* **Initialisation** (steps [0, init_steps)): modes drawn uniformly for the generated
  batch, the unconditional logit judges (their Algorithm 2).
* **ACRP rounds**, the first at step init_steps and then every round_steps steps: the
  mode encoder learns to map G(z, k) onto mu_k (encoder_steps steps of 0.1 x MSE, modes
  drawn from the weights pi, generator in inference mode), every training image is
  embedded, and crp.cluster runs `gibbs_rounds` x (`gibbs_sweeps` Gibbs sweeps of the
  truncated CRP, refit, prune): each training image gets a mode label and pi becomes the
  label shares (modes with too few members are pruned for good). Then the GAN trains
  conditionally: each real image's label is the mode of the generated image beside it
  and picks the logit that judges both (their Algorithm 3).

The round runs between two steps, once, in a callback (AdversarialCRP) on the host; its
result (labels, mixture, pi, the round number) is assigned to mirrored variables, so
every replica reads the same values, and it is checkpointed state: a resumed run
continues the same round with the same labels. A round is a pure function of the
checkpoint and the seed (stateless draws for the encoder, numpy Generator seeded by
(seed, round) for the sweeps), so one interrupted before its checkpoint is redone the
same way.

The loss is the harness's (the non-saturating GAN loss of the other models) plus the
authors' R1 penalty gamma E||grad_x logit(x)||^2 on real images (micgan_r1, their 10)
from the first CRP round on: without it the generator collapsed to black images within
a few hundred conditional steps; in the initialisation stage it held the discriminator
at chance here, so it applies there only with micgan_r1_init (the authors').
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import data, evaluation, networks, serving
from memorygan_tf.models import base
from memorygan_tf.models.micgan import crp

ENCODER_BATCH = 64  # global batch of the mode encoder's steps (the authors' batch)
EMBED_BATCH = 1000  # images embedded per call when the training set is embedded
MSE_WEIGHT = 0.1  # the authors' weight of the mode encoder's squared error
INITIAL_VARIANCE = 0.1  # the authors' Sigma_k = 0.1 I at the start


class MICGAN(base.GAN):
    """Mode-conditioned generator + (K + 1)-logit discriminator + mode encoder + ACRP."""

    clusters = True
    cluster_control = "mode"
    optimizer_names = ("d_optimizer", "g_optimizer", "q_optimizer")
    needs_data_index = True

    @property
    def modes(self):
        return self.config.micgan_modes

    @property
    def controls(self):
        return {"mode": base.Control("int32", self.modes, "mode of the mixture to generate from")}

    def generator_input_dim(self):
        return self.config.z_dim + self.modes

    def build_generator(self):
        return networks.build_generator(self.config, self.generator_input_dim(), modes=self.modes)

    def build_heads(self):
        self.logit_head = networks.build_logit_head(self.config, outputs=self.modes + 1)
        self.mode_encoder = networks.build_mode_encoder(self.config, self.modes)

    def build_state(self):
        from memorygan_tf import hardware

        k = self.modes
        crp.check_fits(k, hardware.available_memory_bytes())  # before any K x K x K array is made
        initial = crp.Mixture.initial(k, k, INITIAL_VARIANCE)

        def state(value, dtype, name):
            return keras.Variable(np.asarray(value), dtype=dtype, trainable=False, aggregation="none", name=name)

        self.crp_round = state(0, "int64", "crp_round")  # 0: the initialisation stage
        self.mode_weights = state(np.full(k, 1.0 / k), "float32", "mode_weights")  # pi
        self.mode_means = state(initial.means, "float32", "mode_means")
        self.mode_covariances = state(initial.covariances, "float32", "mode_covariances")
        self.mode_active = state(np.ones(k), "float32", "mode_active")  # 0 once pruned
        self.data_labels = None  # [n] mode of every training image (prepare_training)

    def extra_metric_names(self):
        return ("r1",)

    @property
    def head_variables(self):
        return self.logit_head.trainable_variables

    # ------------------------------------------------------ the mixture
    def mixture(self):
        """The Gaussian modes as a crp.Mixture (NumPy)."""
        return crp.Mixture(self.mode_means.numpy().astype(np.float64),
                           self.mode_covariances.numpy().astype(np.float64), self.mode_active.numpy() > 0.5)

    def embed(self, images):
        """Mode-encoder embeddings [n, K] (numpy) of images in the model's range."""
        out = [self.mode_encoder(images[i:i + EMBED_BATCH], training=False).numpy()
               for i in range(0, len(images), EMBED_BATCH)]
        return np.concatenate(out) if out else np.zeros([0, self.modes], np.float32)

    # -------------------------------------------------------- sampling
    def sample_controls(self, n, seed):
        """k ~ pi (uniform until the first CRP round; pruned modes never)."""
        weights = tf.convert_to_tensor(self.mode_weights)
        logits = tf.where(weights > 0, tf.math.log(tf.maximum(weights, 1e-30)), -1e9)
        mode = tf.random.stateless_categorical(logits[tf.newaxis], n, seed=seed, dtype=tf.int32)[0]
        return tf.one_hot(mode, self.modes, dtype=keras.backend.floatx()), {"mode": mode}

    def latent_from(self, z, mode=None):
        """Generator input [z, one_hot(mode)]."""
        z = tf.convert_to_tensor(z)
        return tf.concat([z, tf.one_hot(tf.convert_to_tensor(mode), self.modes, dtype=z.dtype)], axis=-1)

    def modes_of(self, latent):
        return tf.argmax(latent[:, self.config.z_dim:], axis=-1, output_type=tf.int32)

    def training_latent(self, local_batch, purpose, index, data_index):
        """z and, in the ACRP stage, the real batch's mode labels (the authors pair each
        real image's label with a generated image); modes ~ pi before the first round."""
        latent = self.local_latent(local_batch, purpose, index)
        if data_index is None or self.data_labels is None:
            return latent
        labelled = tf.gather(tf.convert_to_tensor(self.data_labels), data_index)
        modes = tf.where(tf.convert_to_tensor(self.crp_round) > 0, labelled, self.modes_of(latent))
        return self.latent_from(latent[:, :self.config.z_dim], modes)

    # ------------------------------------------------------ the players
    def logit(self, features, modes, training):
        """The unconditional logit before the first CRP round, mode k's logit after it."""
        logits = self.logit_head(features, training=training)
        conditional = tf.gather(logits[:, 1:], modes, batch_dims=1)
        return tf.where(tf.convert_to_tensor(self.crp_round) > 0, conditional, logits[:, 0])

    def r1_active(self):
        """Whether the R1 penalty applies now: from the first CRP round on (and in the
        initialisation stage too with micgan_r1_init). A Python bool read when the step
        is traced (the round is read outside the graph): the train function is traced
        again when it changes (AdversarialCRP), so the initialisation stage does not pay
        for the input gradient. (A tf.cond cannot switch it: the gradient of the
        synchronised batch norm inside it would be a cross-replica sum in a branch.)"""
        if self.config.micgan_r1 <= 0:
            return False
        with tf.init_scope():
            return bool(self.config.micgan_r1_init or int(self.crp_round.numpy()) > 0)

    def r1_penalty(self, real, modes):
        """(logits of the real batch, gamma E||grad_x logit(x)||^2 as a global-batch mean,
        zero while r1_active() is false)."""
        if not self.r1_active():
            return self.logit(self.encoder(real, training=True), modes, True), tf.zeros([], keras.backend.floatx())
        with tf.GradientTape() as tape:
            tape.watch(real)
            logit = self.logit(self.encoder(real, training=True), modes, True)
            total = tf.reduce_sum(logit)
        grad = tape.gradient(total, real)
        norms = tf.reduce_sum(tf.square(tf.cast(grad, keras.backend.floatx())), axis=[1, 2, 3])
        return logit, self.config.micgan_r1 * self._global_mean(norms)

    def discriminate_pair(self, real, fake, latent):
        modes = self.modes_of(latent)
        real_logit, penalty = self.r1_penalty(real, modes)
        fake_logit = self.logit(self.encoder(fake, training=True), modes, True)
        return base.DiscriminatorOutputs(
            tf.math.log_sigmoid(real_logit), tf.math.log_sigmoid(-real_logit), tf.math.log_sigmoid(-fake_logit),
            tf.sigmoid(real_logit), tf.sigmoid(fake_logit), info=tf.zeros([], keras.backend.floatx()),
            aux=penalty * base.replica()[1], penalty=penalty)

    def judge_generated(self, raw_fake, latent):
        logit = self.logit(raw_fake, self.modes_of(latent), True)
        return base.GeneratorOutputs(tf.math.log_sigmoid(logit), tf.math.log_sigmoid(-logit),
                                     info=tf.zeros([], keras.backend.floatx()))

    def after_discriminator_step(self, aux, token):
        self.trackers["r1"].update_state(aux)
        return token

    # ------------------------------------------------------- ACRP rounds
    def round_due(self, step):
        """The CRP round that should have run before `step` (0: none yet)."""
        c = self.config
        if step < c.micgan_init_steps:
            return 0
        return 1 + (step - c.micgan_init_steps) // c.micgan_round_steps

    def min_members(self, n):
        """A mode with at most this many members is pruned: the authors' (d + 1) x 10, at
        most n / 2K so that a small data set keeps its modes (the most populous mode
        always holds at least n / K, so some mode always survives)."""
        return min((self.modes + 1) * 10, n // (2 * self.modes))

    def prepare_training(self, images):
        if self.data_labels is None or int(self.data_labels.shape[0]) != len(images):
            self.data_labels = keras.Variable(np.zeros(len(images), np.int32), dtype="int32", trainable=False,
                                              aggregation="none", name="data_labels")

    def training_callbacks(self, images, output_activation):
        return [AdversarialCRP(images, output_activation)]

    def encoder_step(self, round_index, step_index):
        """One step of the mode encoder on generated images: 0.1 x MSE(Q(G(z, k)), mu_k)
        with k ~ pi (the authors' encoder_trainstep); returns the loss. Per replica."""
        _, replicas = base.replica()
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(round_index, tf.int64) * 2**20 + step_index])
        seed = tf.cast(tf.random.experimental.stateless_fold_in(seed, 7), tf.int64)
        latent = self.local_draw(-(-ENCODER_BATCH // replicas), seed)
        mode = self.modes_of(latent)
        images = self.generator(latent, training=False)
        target = tf.gather(tf.convert_to_tensor(self.mode_means), mode)
        with tf.GradientTape() as tape:
            embedding = tf.cast(self.mode_encoder(images, training=True), target.dtype)
            loss = MSE_WEIGHT * self._global_mean(tf.reduce_mean(tf.square(embedding - target), axis=-1))
        grads = tape.gradient(loss, self.mode_encoder.trainable_variables)
        self.q_optimizer.apply_gradients(zip(grads, self.mode_encoder.trainable_variables))
        return loss * replicas

    def train_encoder(self, round_index):
        """micgan_encoder_steps encoder steps under the model's strategy; the last loss."""
        if getattr(self, "_encoder_step_fn", None) is None:  # traced once, not once per round
            strategy = self.distribute_strategy

            @tf.function
            def step(r, i):
                losses = strategy.run(self.encoder_step, args=(r, i))
                return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

            self._encoder_step_fn = step
        loss = None
        for i in range(self.config.micgan_encoder_steps):
            loss = self._encoder_step_fn(tf.constant(round_index, tf.int64), tf.constant(i, tf.int64))
        return float(loss)

    def run_round(self, round_index, images):
        """One ACRP round (module docstring): encoder, embeddings, CRP; assigns the state.
        `images` are the training images in the model's range. Returns a summary dict."""
        c = self.config
        encoder_loss = self.train_encoder(round_index)
        rng = np.random.default_rng([self.seed, round_index])
        labels, mixture, weights = crp.cluster(
            self.embed(images), self.mixture(), rng, rounds=c.micgan_gibbs_rounds, sweeps=c.micgan_gibbs_sweeps,
            min_members=self.min_members(len(images)), concentration=c.micgan_concentration or None)
        computed = [labels.astype(np.int32), mixture.means.astype(np.float32),
                    mixture.covariances.astype(np.float32), mixture.active.astype(np.float32),
                    weights.astype(np.float32)]
        labels, means, covariances, active, weights = base.broadcast_from_first(
            self.distribute_strategy, lambda ctx: computed)  # the first worker's round, on all
        self.data_labels.assign(labels)
        self.mode_means.assign(means)
        self.mode_covariances.assign(covariances)
        self.mode_active.assign(active)
        self.mode_weights.assign(weights)
        self.crp_round.assign(round_index)
        return dict(encoder_loss=encoder_loss, active=int(active.sum()), effective=float(1.0 / np.sum(weights**2)))

    # ------------------------------------------------------ the harness
    def build_optimizers(self):
        super().build_optimizers()
        self.q_optimizer.build(self.mode_encoder.trainable_variables)

    def diagnostics(self):
        weights = tf.convert_to_tensor(self.mode_weights)
        return {"micgan/round": tf.cast(tf.convert_to_tensor(self.crp_round), tf.float32),
                "micgan/active_modes": tf.reduce_sum(tf.convert_to_tensor(self.mode_active)),
                "micgan/effective_modes": 1.0 / tf.reduce_sum(tf.square(weights))}

    def epoch_summaries(self, step):
        tf.summary.histogram("micgan/mode_weights", self.mode_weights, step=step)

    def evaluation_report(self, x_test, y_test):
        report = evaluation.clustering_report(self, x_test, y_test)
        report["active_modes"] = int(self.mode_active.numpy().sum())
        report["crp_round"] = int(self.crp_round.numpy())
        return report

    def cluster_scores(self, images):
        """log N(Q(x); mu_k, Sigma_k) of every mode (-inf for pruned ones): an image's
        mode is their argmax, as the authors assign images (their compute_purity_score)."""
        return crp.log_likelihoods(self.embed(np.asarray(images)), self.mixture())

    def cluster_weights(self):
        return self.mode_weights.numpy().astype(np.float64)

    def add_serving_endpoints(self, archive, z_spec):
        """serve(z) and sample(z, seed) -> {"images", "modes"}: each row's mode drawn from
        pi by inverse-CDF sampling with a uniform hashed from z (serve) or drawn from the
        seed (sample); generate_from_mode(z, mode) -> {"images"}."""
        modes = self.modes
        snapshot = ModeSnapshot(self.cluster_weights())
        archive.track(snapshot)

        def from_modes(z, mode):
            return serving.images_from(self, self.latent_from(z, mode))

        pruned = [k for k, w in enumerate(self.cluster_weights()) if w <= 0]

        def generate_from_mode(z, mode):
            mode = serving.in_range(mode, modes, f"input mode must lie in [0, {modes})")
            if pruned:  # a mode the CRP pruned has no data behind it: refused, as one out of range
                mode = serving.kept(mode, snapshot.mode_weights, f"input mode was pruned by the CRP (weight 0): "
                                    f"{', '.join(map(str, pruned[:20]))}{', ...' if len(pruned) > 20 else ''}")
            return {"images": from_modes(serving.finite(z), mode)}

        serving.add_prior_endpoints(archive, z_spec, lambda u: serving.inverse_cdf(snapshot.cdf, u), from_modes,
                                    "modes")
        archive.add_endpoint("generate_from_mode", generate_from_mode,
                             input_signature=[z_spec, tf.TensorSpec([None], tf.int32, name="mode")])


class ModeSnapshot(tf.Module):
    """The CDF of the mode weights pi at export time and the weights themselves (0 for a mode
    the CRP pruned), non-trainable."""

    def __init__(self, weights):
        super().__init__(name="mode_snapshot")
        self.cdf = tf.Variable(np.cumsum(weights).astype(np.float32), trainable=False, name="cdf")
        self.mode_weights = tf.Variable(np.asarray(weights, np.float32), trainable=False, name="weights")  # 0: pruned


class AdversarialCRP(keras.callbacks.Callback):
    """Runs MIC-GANs' CRP rounds between steps when the step reaches them (on the host,
    once; the state it assigns is mirrored to every replica)."""

    def __init__(self, images, output_activation, log=print):
        super().__init__()
        self.images = images
        self.output_activation = output_activation
        self.log = log
        self.scaled = None

    def on_train_batch_begin(self, batch, logs=None):
        model = self.model
        step = int(model.step.numpy())
        due = model.round_due(step)
        if due <= int(model.crp_round.numpy()):
            return
        if self.scaled is None:
            self.scaled = data.scale_images(self.images, self.output_activation).numpy()
        start = time.perf_counter()
        penalised = model.r1_active()
        summary = model.run_round(due, self.scaled)
        if model.r1_active() != penalised:  # the step takes the R1 penalty from now on: trace it again
            model.make_train_function(force=True)
        self.log(f"\nMIC-GANs CRP round {due} at step {step}: {summary['active']} modes active, "
                 f"{summary['effective']:.1f} effective, encoder loss {summary['encoder_loss']:.3g} "
                 f"({time.perf_counter() - start:.0f} s)")
