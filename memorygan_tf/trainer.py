"""The training harness: strategy, checkpoints, resume, logging.

The model comes from `models.build` (chosen by `--model`); the harness uses only the
interface that models.base.GAN declares, so every registered GAN trains, resumes and
logs the same way.
"""

from __future__ import annotations

import os
import shutil
import sys

import keras
import tensorflow as tf

from memorygan_tf import callbacks as callbacks_lib
from memorygan_tf import cli
from memorygan_tf import configs
from memorygan_tf import data as data_lib
from memorygan_tf import models
from memorygan_tf import rundir


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
def build_model(config, strategy, total_steps):
    """Model and its optimizers for training, created inside the strategy scope and fully
    built (models.build_compiled, as every reader of a run builds it)."""
    return models.build_compiled(config, total_steps, strategy, for_training=True)


def make_checkpoint(model):
    """Everything a resume needs (the model's checkpoint_items: networks, state, step, optimizers)."""
    return tf.train.Checkpoint(**model.checkpoint_items())


# ---------------------------------------------------------------------- train
def set_learning_rate(model, optimizer_config):
    """Sets every optimizer's constant learning rate (a restored checkpoint carries the old one)."""
    if optimizer_config.lr_decay == "none":
        for optimizer in model.optimizers.values():
            optimizer.learning_rate = optimizer_config.learning_rate


def train(config, images, strategy=None, verbose="auto", log=print, changes=None, test_set=None, model=None):
    """Trains (or resumes) a run; returns the model. Raises TrainingDiverged on NaN/Inf.

    `model`: one made by build_model(config, strategy, ...) to train instead of a new one
    (tools/tune.py's hyper-model builds it; a checkpoint in the run still wins).

    `changes` ({flag: [old, new]}, from rundir.resume_config) are recorded in the run's
    config.json history at the step they take effect. `test_set` (x_test, y_test) is
    needed for --eval_every_epochs.
    """
    t = config.train
    if t.deterministic:
        keras.utils.set_random_seed(t.seed)
        tf.config.experimental.enable_op_determinism()
    strategy = strategy or resolve_strategy(t.strategy)
    configs.validate(config, strategy.num_replicas_in_sync)
    d_steps = config.model.d_steps  # each step reads d_steps real batches
    steps_per_epoch = configs.steps_per_epoch(config, len(images))
    if steps_per_epoch <= 0:
        raise data_lib.too_few_images(len(images), t.batch_size, d_steps)
    total_steps = t.epochs * steps_per_epoch
    chief = is_chief(strategy)

    if model is None:
        model = build_model(config, strategy, total_steps)
    with strategy.scope():
        model.prepare_training(images)  # state sized by the data (MIC-GANs' mode labels)
    ckpt = make_checkpoint(model)
    run = rundir.RunDir(t.logdir)
    directory = run.checkpoints
    if not chief:  # other workers write throw-away copies (collective save)
        directory = os.path.join(t.logdir, f"worker_tmp_{strategy.cluster_resolver.task_id}")
    restored = rundir.restore_newest(ckpt, directory, log, repair_state=True)
    if restored:
        log(f"Resumed from {restored} (step {int(model.step.numpy())}).")
        set_learning_rate(model, config.optimizer)  # the rate given now, not the checkpoint's
    if chief:
        run.record_changes(config, changes or {}, int(model.step.numpy()))
        if restored and changes:
            log("Changed on resume: " + ", ".join(f"--{k} {a} -> {b}" for k, (a, b) in changes.items()))
    manager = tf.train.CheckpointManager(ckpt, directory, max_to_keep=t.keep_checkpoints)
    start = int(model.step.numpy())
    if start >= total_steps:
        log(f"Nothing to do: the run in {t.logdir} already reached step {start} of {total_steps}.")
        return model

    guard = callbacks_lib.NonFiniteGuard()
    checkpointer = callbacks_lib.Checkpointer(manager, guard, t.checkpoint_every_steps)
    real_batch = images[: t.num_sample_images]
    real_batch = data_lib.scale_images(real_batch, config.model.output_activation).numpy()
    tensorboard = callbacks_lib.TensorBoardLogger(t.logdir, config.model.output_activation, real_batch,
                                                  t.num_sample_images, t.seed, t.log_every_steps, enabled=chief)
    # The model's own callbacks run first (MIC-GANs' CRP rounds change the state a step reads).
    callbacks = list(model.training_callbacks(images, config.model.output_activation)) + [guard, checkpointer,
                                                                                          tensorboard]
    if t.eval_every_epochs:
        if test_set is None:
            raise configs.ConfigError("eval_every_epochs", "needs the test split (an .npz with x_test, y_test)")
        callbacks.append(callbacks_lib.EvaluationLogger(t.logdir, config, os.path.join(
            t.eval_classifier, "classifier.keras"), *test_set, t.eval_every_epochs, t.eval_samples, enabled=chief))

    def fit(first_step, first_epoch, last_epoch, steps):
        dataset = data_lib.make_dataset(images, t.batch_size, seed=t.seed, start_step=first_step,
                                        output_activation=config.model.output_activation, groups=d_steps,
                                        replicas=strategy.num_replicas_in_sync,
                                        with_index=model.needs_data_index, augmentation=t.use_augmentation)
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
    except BrokenPipeError:  # stdout's reader went away (piped into head): save, then stop quietly
        cli.silence_stdout()
        checkpointer.save()
        print(f"stdout was closed: saved a checkpoint at step {int(model.step.numpy())}; rerun the same "
              "command to resume.", file=sys.stderr)
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
