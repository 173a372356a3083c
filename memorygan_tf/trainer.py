"""The training harness: strategy, checkpoints, resume, logging. Model-agnostic.

It needs from the model only: `compile(d_optimizer, g_optimizer)`,
`build_optimizers()`, a `step` variable, `generate(n, seed)` and, optionally, a
`memory` with `statistics()`; so peer GANs can be trained by the same harness.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import configs
from memorygan_tf import data as data_lib
from memorygan_tf import model as model_lib


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


# ------------------------------------------------------------------ strategy
def resolve_strategy(name):
    """auto: MirroredStrategy on several GPUs, else the default strategy."""
    if name == "auto":
        name = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise configs.ConfigError("strategy", "multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise configs.ConfigError("strategy", f"unknown strategy {name!r}")


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
    )


# --------------------------------------------------------------------- build
def make_optimizers(optimizer_config, total_steps):
    def learning_rate():
        if optimizer_config.lr_decay == "linear":
            return keras.optimizers.schedules.PolynomialDecay(
                optimizer_config.learning_rate, max(1, total_steps), end_learning_rate=0.0, power=1.0
            )
        return optimizer_config.learning_rate

    def adam(name):
        return keras.optimizers.Adam(learning_rate(), beta_1=optimizer_config.beta_1,
                                     beta_2=optimizer_config.beta_2, name=name)

    return adam("d_optimizer"), adam("g_optimizer")


def build_model(config, strategy, total_steps):
    """Model and both optimizers, created inside the strategy scope and fully built."""
    with strategy.scope():
        model = model_lib.MemoryGAN(config.model, seed=config.train.seed, jit_compile=config.train.jit_compile)
        d_optimizer, g_optimizer = make_optimizers(config.optimizer, total_steps)
        model.compile(d_optimizer, g_optimizer, jit_compile=False)  # the model places XLA itself
        model.build_optimizers()
    return model


def make_checkpoint(model):
    """Everything a resume needs: networks, memory, step (= RNG state), both optimizers."""
    return tf.train.Checkpoint(model=model, d_optimizer=model.d_optimizer, g_optimizer=model.g_optimizer)


def checkpoint_dir(logdir):
    return os.path.join(logdir, "checkpoints")


# ----------------------------------------------------------------- callbacks
def scalar(value):
    """A log value as float (multi-worker logs carry a length-1 axis)."""
    return float(np.asarray(value).reshape(-1)[0])


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first NaN/Inf loss; checkpoints after it are suppressed."""

    def __init__(self):
        super().__init__()
        self.bad = None

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if name.endswith("loss") and not math.isfinite(scalar(value)):
                self.bad = (int(self.model.step.numpy()), name, scalar(value))
                self.model.stop_training = True
                return


class Checkpointer(keras.callbacks.Callback):
    """Saves every `every_steps` steps and at each epoch end (CheckpointManager writes
    to temporary files and renames, so a kill never leaves a half-written checkpoint)."""

    def __init__(self, manager, guard, every_steps=0):
        super().__init__()
        self.manager, self.guard, self.every_steps = manager, guard, every_steps
        self.last_saved = None

    def save(self):
        if self.guard.bad is not None:
            return
        step = int(self.model.step.numpy())
        if step != self.last_saved:
            self.manager.save(checkpoint_number=step)
            self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if self.every_steps and int(self.model.step.numpy()) % self.every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()


def image_grid(images, columns=None):
    """[n, H, W, C] in [0, 1] -> one [1, rows*H, columns*W, C] grid image."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.zeros((rows * h, columns * w, c), images.dtype)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    return grid[np.newaxis]


def to_unit_range(images, output_activation):
    images = np.asarray(images, np.float32)
    return (images + 1.0) / 2.0 if output_activation == "tanh" else images


class TensorBoardLogger(keras.callbacks.Callback):
    """Scalars, images and histograms under --logdir (see README for the tags)."""

    def __init__(self, logdir, model_config, real_batch, num_samples, seed, every_steps, enabled=True):
        super().__init__()
        self.enabled = enabled
        self.writer = tf.summary.create_file_writer(logdir) if enabled else None
        self.sample_dir = os.path.join(logdir, "samples")
        self.model_config = model_config
        self.real_batch = real_batch
        self.num_samples = num_samples
        self.sample_seed = tf.constant([seed, -1], tf.int64)
        self.every_steps = every_steps
        self._clock = None

    def _scalars(self, logs, step):
        now = time.perf_counter()
        if self._clock is not None and step > self._clock[1]:
            tf.summary.scalar("steps_per_second", (step - self._clock[1]) / (now - self._clock[0]), step=step)
        self._clock = (now, step)
        for name, value in (logs or {}).items():
            tf.summary.scalar(name, scalar(value), step=step)
        memory = getattr(self.model, "memory", None)
        if memory is not None:
            for name, value in memory.statistics().items():
                tf.summary.scalar(name, value, step=step)
        for name, opt in (("d_learning_rate", self.model.d_optimizer),):
            tf.summary.scalar(name, float(keras.ops.convert_to_numpy(opt.learning_rate)), step=step)

    def on_train_begin(self, logs=None):
        self._clock = (time.perf_counter(), int(self.model.step.numpy()))
        if self.enabled and self.real_batch is not None:
            with self.writer.as_default():
                real = to_unit_range(self.real_batch[: self.num_samples], self.model_config.output_activation)
                tf.summary.image("real_batch", image_grid(real), step=int(self.model.step.numpy()))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step.numpy())
        if self.enabled and step % self.every_steps == 0:
            with self.writer.as_default():
                self._scalars(logs, step)

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled:
            return
        step = int(self.model.step.numpy())
        samples = to_unit_range(self.model.generate(self.num_samples, self.sample_seed),
                                self.model_config.output_activation)
        grid = image_grid(samples)
        with self.writer.as_default():
            self._scalars(logs, step)
            tf.summary.image("samples", grid, step=step)
            memory = getattr(self.model, "memory", None)
            if memory is not None:
                tf.summary.histogram("memory/histogram", memory.histogram, step=step)
                tf.summary.histogram("memory/ages", memory.ages, step=step)
        self.writer.flush()
        os.makedirs(self.sample_dir, exist_ok=True)
        png = tf.io.encode_png(tf.cast(tf.clip_by_value(grid[0], 0, 1) * 255, tf.uint8))
        tf.io.write_file(os.path.join(self.sample_dir, f"step_{step:08d}.png"), png)


# ---------------------------------------------------------------------- train
def write_run_config(config, logdir):
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def config_from_dict(raw):
    """An ExperimentConfig from its JSON form, validated. Fields missing in `raw` (added to
    the code after the run was written) take their defaults; fields the code no longer
    knows are dropped, so an old run stays resumable and exportable."""
    sections = {}
    for section, cls in configs.SECTIONS.items():
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in (raw.get(section) or {}).items() if k in known}
        if "image_shape" in values:
            values["image_shape"] = tuple(values["image_shape"])
        sections[section] = cls(**values)
    config = configs.ExperimentConfig(**sections)
    configs.validate(config)
    return config


def load_run_config(logdir):
    """The ExperimentConfig a run in `logdir` was trained with."""
    with open(os.path.join(logdir, "config.json")) as f:
        return config_from_dict(json.load(f))


def train(config, images, strategy=None, verbose="auto", log=print):
    """Trains (or resumes) a run; returns the model. Raises TrainingDiverged on NaN/Inf."""
    t = config.train
    if t.deterministic:
        keras.utils.set_random_seed(t.seed)
        tf.config.experimental.enable_op_determinism()
    strategy = strategy or resolve_strategy(t.strategy)
    configs.validate(config, strategy.num_replicas_in_sync)
    steps_per_epoch = t.steps_per_epoch or len(images) // t.batch_size
    if steps_per_epoch <= 0:
        raise data_lib.DataError(f"{len(images)} images are fewer than one batch of {t.batch_size}")
    total_steps = t.epochs * steps_per_epoch
    chief = is_chief(strategy)

    model = build_model(config, strategy, total_steps)
    ckpt = make_checkpoint(model)
    directory = checkpoint_dir(t.logdir)
    if not chief:  # other workers write throw-away copies (collective save)
        directory = os.path.join(t.logdir, f"worker_tmp_{strategy.cluster_resolver.task_id}")
    manager = tf.train.CheckpointManager(ckpt, directory, max_to_keep=t.keep_checkpoints)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log(f"Resumed from {manager.latest_checkpoint} (step {int(model.step.numpy())}).")
    elif chief:
        write_run_config(config, t.logdir)
    start = int(model.step.numpy())
    if start >= total_steps:
        log(f"Nothing to do: the run in {t.logdir} already reached step {start} of {total_steps}.")
        return model

    guard = NonFiniteGuard()
    checkpointer = Checkpointer(manager, guard, t.checkpoint_every_steps)
    real_batch = images[: t.num_sample_images]
    real_batch = data_lib.scale_images(real_batch, config.model.output_activation).numpy()
    tensorboard = TensorBoardLogger(t.logdir, config.model, real_batch, t.num_sample_images,
                                    t.seed, t.log_every_steps, enabled=chief)
    callbacks = [guard, checkpointer, tensorboard]

    def fit(first_step, first_epoch, last_epoch, steps):
        dataset = data_lib.make_dataset(images, t.batch_size, seed=t.seed, start_step=first_step,
                                        output_activation=config.model.output_activation)
        model.fit(dataset, initial_epoch=first_epoch, epochs=last_epoch, steps_per_epoch=steps,
                  callbacks=callbacks, verbose=verbose, shuffle=False)

    epoch, offset = divmod(start, steps_per_epoch)
    try:
        if offset:  # finish the interrupted epoch first
            fit(start, epoch, epoch + 1, steps_per_epoch - offset)
            epoch += 1
        if epoch < t.epochs and guard.bad is None:
            fit(epoch * steps_per_epoch, epoch, t.epochs, steps_per_epoch)
    except KeyboardInterrupt:
        checkpointer.save()
        log(f"Interrupted: saved a checkpoint at step {int(model.step.numpy())}; rerun the same command to resume.")
        raise
    finally:
        if not chief and os.path.isdir(directory):
            shutil.rmtree(directory, ignore_errors=True)
    if guard.bad is not None:
        step, name, value = guard.bad
        raise TrainingDiverged(
            f"{name} became {value} at step {step}; training stopped. The last good checkpoint "
            f"({manager.latest_checkpoint or 'none'}) is kept. Try a lower --learning_rate."
        )
    return model
