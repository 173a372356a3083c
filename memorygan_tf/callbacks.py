"""Callbacks of the training harness: NaN/Inf guard, checkpoints, TensorBoard.

They use the model through models.base.GAN's interface only: `step`, `generate`,
`diagnostics`, `epoch_summaries` and its optimizers.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import data as data_lib
from memorygan_tf import evaluation, rundir, summaries, visualize


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
            try:
                self.manager.save(checkpoint_number=step)
            except (tf.errors.OpError, OSError) as err:  # a full disk, a folder gone read-only, ...
                raise checkpoint_failed(self.manager, step, err) from None
            self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if self.every_steps and int(self.model.step.numpy()) % self.every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()


def checkpoint_failed(manager, step, err):
    """The one-line error (configs.ConfigError naming --logdir) of a checkpoint that could not
    be written, after removing what the failed save left (its temporary files, data files
    without an index), so the space is back and the earlier checkpoints are as they were."""
    from memorygan_tf import configs

    directory = manager.directory
    prefix = os.path.join(directory, rundir.checkpoint_name(step))
    leftovers = glob.glob(prefix + "_temp*")
    if not os.path.exists(prefix + ".index"):
        leftovers += glob.glob(prefix + ".data-*")
    for path in leftovers:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass
    reason = getattr(err, "strerror", None) or getattr(err, "message", None) or str(err)
    reason = (reason.strip().splitlines() or [type(err).__name__])[0][:160]
    kept = manager.latest_checkpoint
    return configs.ConfigError(
        "logdir", f"cannot write the checkpoint of step {step} into {directory} ({reason}); free space there "
        f"(or fix the folder) and rerun the same command: it resumes from "
        f"{os.path.basename(kept) if kept else 'the start (no checkpoint was written yet)'}, kept whole")


class TensorBoardLogger(keras.callbacks.Callback):
    """Scalars, images and histograms under --logdir (see README for the tags)."""

    def __init__(self, logdir, output_activation, real_batch, num_samples, seed, every_steps, enabled=True):
        super().__init__()
        self.enabled = enabled
        self.writer = tf.summary.create_file_writer(logdir) if enabled else None
        self.logdir = logdir
        self.output_activation = output_activation
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
        for name, value in self.model.diagnostics().items():
            tf.summary.scalar(name, value, step=step)
        optimizer = next(iter(self.model.optimizers.values()))
        tf.summary.scalar("d_learning_rate", float(keras.ops.convert_to_numpy(optimizer.learning_rate)), step=step)

    def on_train_begin(self, logs=None):
        self._clock = (time.perf_counter(), int(self.model.step.numpy()))
        if self.enabled and self.real_batch is not None:
            with self.writer.as_default():
                real = data_lib.to_unit_range(self.real_batch[: self.num_samples], self.output_activation)
                grid = visualize.tile(real, background=0.0)[np.newaxis]  # black, as TensorBoard's page
                tf.summary.image("real_batch", grid, step=int(self.model.step.numpy()))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step.numpy())
        if self.enabled and step % self.every_steps == 0:
            with self.writer.as_default():
                self._scalars(logs, step)

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled:
            return
        step = int(self.model.step.numpy())
        samples = data_lib.to_unit_range(self.model.generate(self.num_samples, self.sample_seed),
                                self.output_activation)
        grid = visualize.tile(samples, background=0.0)[np.newaxis]
        with self.writer.as_default():
            self._scalars(logs, step)
            tf.summary.image("samples", grid, step=step)
            self.model.epoch_summaries(step)  # MemoryGAN: its memory's histograms, health, slots
        self.writer.flush()
        path = rundir.RunDir(self.logdir).sample(step)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        visualize.save_png(grid[0], path)


class EvaluationLogger(keras.callbacks.Callback):
    """Every `every_epochs` epochs: IS, FID and memory health of `num_samples` generated
    images (evaluation.evaluate_model) as eval/* scalars, so a learning curve is visible."""

    def __init__(self, logdir, config, classifier_path, x_test, y_test, every_epochs, num_samples, enabled=True):
        super().__init__()
        self.logdir, self.config = rundir.RunDir(logdir).evaluations, config
        self.classifier = evaluation.load_classifier(classifier_path) if enabled else None
        self.x_test, self.y_test = x_test, y_test
        self.every_epochs, self.num_samples, self.enabled = every_epochs, num_samples, enabled
        self.test_features = None  # classified once, at the first evaluation

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled or (epoch + 1) % self.every_epochs:
            return
        if self.test_features is None:
            self.test_features = evaluation.reference_features(self.classifier, self.x_test)
        result = evaluation.evaluate_model(self.model, self.classifier, self.x_test, self.y_test,
                                           self.num_samples, splits=10, test_features=self.test_features)
        summaries.write_evaluation(self.logdir, self.config, result)
        print(f"\n[eval at step {result['step']}] IS {result['inception_score']:.3f} FID {result['fid']:.3f} "
              f"KID {result['kid']:.4f} precision {result['precision']:.3f} recall {result['recall']:.3f}", flush=True)
