"""Export the generator and a memory snapshot as a TF SavedModel for serving.

The SavedModel needs only TensorFlow to load (`tf.saved_model.load`) or serve
(TF Serving). Endpoints (images are float32 in [0, 1], whatever the generator's
output activation):

* ``serving_default(z)``: z float32 [None, z_dim] -> {"images", "slots"}. The
  MCGN slot of each row is drawn from the memory prior p(c) ~ h v (Sec. 3.2) by
  inverse-CDF sampling with a uniform number hashed from that row's z, so a
  request is reproducible: the same z always gives the same image.
* ``sample(z, seed)``: as above, the uniforms drawn from a stateless seed int64 [2].
* ``generate_from_slot(z, slot)``: controlled generation from given slots int32 [None].

For the ablations without an MCGN the generator reads z only; `slots` are then -1
and `generate_from_slot` ignores its slots.
"""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import configs, data, rundir, trainer


class MemorySnapshot(tf.Module):
    """Keys and the prior CDF of the memory at export time (non-trainable)."""

    def __init__(self, keys, prior):
        super().__init__(name="memory_snapshot")
        self.keys = tf.Variable(keys, trainable=False, name="keys")
        self.prior_cdf = tf.Variable(np.cumsum(prior).astype(np.float32), trainable=False, name="prior_cdf")


def _hash_uniform(z):
    """A per-row uniform in [0, 1) from the bits of z (deterministic, order-free within a row)."""
    prime = tf.constant(4294967291, tf.int64)
    bits = tf.math.floormod(tf.cast(tf.bitcast(z, tf.int32), tf.int64), prime)
    weights = tf.range(1, tf.shape(z)[1] + 1, dtype=tf.int64) * 40503
    mixed = tf.math.floormod(tf.reduce_sum(tf.math.floormod(bits * weights, prime), axis=1), prime)
    mixed = tf.bitwise.bitwise_xor(mixed, tf.bitwise.right_shift(mixed, 13))
    mixed = tf.math.floormod(mixed * 2654435761, prime)
    return tf.cast(tf.math.floormod(mixed, 1 << 24), tf.float32) / float(1 << 24)


def export_generator(model, export_dir):
    """Writes the SavedModel of `model.generator` (+ memory snapshot) to export_dir."""
    config = model.config
    z_dim = config.z_dim
    generator = model.generator
    conditional = model.conditional

    # Endpoints track the variables they use; tracking the generator explicitly as well
    # stored every weight twice (57 MiB instead of 31 MiB for Fashion-MNIST).
    archive = keras.export.ExportArchive()
    if conditional:
        logits = model.memory.prior_logits().numpy().astype(np.float64)
        prior = np.exp(logits - logits.max())
        prior /= prior.sum()
        snapshot = MemorySnapshot(model.memory.keys.numpy(), prior)
        archive.track(snapshot)

    def images_from(latent):
        images = generator(latent, training=False)
        return data.to_unit_range(images, config.output_activation)

    def finite(z):
        """z itself, after an assert that names it if a row holds NaN or Inf."""
        return tf.debugging.assert_all_finite(z, "input z holds NaN or Inf")

    def in_memory(slot):
        """The slots, after asserts that name them if one lies outside [0, memory_size)."""
        if not conditional:
            return slot  # the generator reads z only: slots are ignored
        size = tf.shape(snapshot.keys, out_type=tf.int32)[0]
        checks = [tf.debugging.assert_non_negative(slot, message="input slot must lie in [0, memory_size)"),
                  tf.debugging.assert_less(slot, size, message="input slot must lie in [0, memory_size)")]
        with tf.control_dependencies(checks):
            return tf.identity(slot)

    def from_slots(z, slots):
        return images_from(model.latent_from(z, slots, keys=snapshot.keys if conditional else None))

    def slots_for(uniform):
        if not conditional:
            return -tf.ones_like(uniform, tf.int32)
        n = tf.shape(snapshot.prior_cdf)[0]
        idx = tf.searchsorted(snapshot.prior_cdf, uniform * snapshot.prior_cdf[-1], side="right")
        return tf.minimum(tf.cast(idx, tf.int32), n - 1)

    z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")

    def serve(z):
        z = finite(z)
        slots = slots_for(_hash_uniform(z))
        return {"images": from_slots(z, slots), "slots": slots}

    def sample(z, seed):
        z = finite(z)
        slots = slots_for(tf.random.stateless_uniform(tf.shape(z)[:1], seed))
        return {"images": from_slots(z, slots), "slots": slots}

    def generate_from_slot(z, slot):
        return {"images": from_slots(finite(z), in_memory(slot))}

    archive.add_endpoint("serve", serve, input_signature=[z_spec])
    archive.add_endpoint("sample", sample, input_signature=[
        z_spec, tf.TensorSpec([2], tf.int64, name="seed")])
    archive.add_endpoint("generate_from_slot", generate_from_slot, input_signature=[
        z_spec, tf.TensorSpec([None], tf.int32, name="slot")])
    archive.write_out(export_dir, verbose=False)
    return export_dir


def load_trained_model(logdir, checkpoint=None, log=lambda message: None):
    """Rebuilds the model of a run directory and restores a checkpoint: the given one, else
    the newest that loads (broken ones are skipped, see rundir.restore_newest).

    Raises configs.ConfigError (one line) for a missing or unloadable checkpoint.
    """
    config = trainer.load_run_config(logdir)
    model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=1)
    restorable = tf.train.Checkpoint(model=model)
    if checkpoint is None:
        path = rundir.restore_newest(restorable, trainer.checkpoint_dir(logdir), log)
        if path is None:
            raise configs.ConfigError("logdir", f"no checkpoint in {trainer.checkpoint_dir(logdir)}")
        return model, path
    if not os.path.exists(checkpoint + ".index"):
        raise configs.ConfigError("checkpoint", f"{checkpoint} is not a checkpoint (no {checkpoint}.index)")
    try:
        restorable.restore(checkpoint).expect_partial().assert_existing_objects_matched()
    except Exception as err:  # noqa: BLE001 - any way a checkpoint can fail to load
        raise configs.ConfigError("checkpoint", f"{checkpoint} does not load ({rundir._reason(err)})") from None
    return model, checkpoint


# What tf.saved_model.save writes: --overwrite replaces a folder holding only these.
SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "fingerprint.pb", "variables", "assets"})


def is_export(folder):
    """Whether `folder` holds an earlier export and nothing else."""
    entries = set(os.listdir(folder))
    return "saved_model.pb" in entries and entries <= SAVED_MODEL_ENTRIES


def export_from_logdir(logdir, export_dir, checkpoint=None, overwrite=False, log=lambda message: None):
    """Exports the generator of a finished (or running) run. Returns the checkpoint used.

    Refuses (configs.ConfigError) an --export_dir that is a file, a non-empty one unless
    `overwrite`, and even with `overwrite` one that holds anything but an earlier
    export: the user's files are never deleted. The SavedModel is written to a new
    folder beside export_dir first and moved in place at the end, so a failed export
    leaves an earlier one whole; that folder is made before the model is loaded, so an
    unwritable place fails at once.
    """
    config_path = os.path.join(logdir, "config.json")
    if not os.path.exists(config_path):
        raise configs.ConfigError("logdir", f"{logdir} is not a run directory (no config.json)")
    trainer.load_run_config(logdir)  # an unreadable config.json: one line naming it, before any work
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise configs.ConfigError("export_dir", f"{export_dir} is a file")
    if os.path.isdir(export_dir) and os.listdir(export_dir):
        if not overwrite:
            raise configs.ConfigError("export_dir", f"{export_dir} is not empty; pass --overwrite to replace "
                                      "an earlier export there")
        if not is_export(export_dir):
            others = sorted(set(os.listdir(export_dir)) - SAVED_MODEL_ENTRIES)
            raise configs.ConfigError("export_dir", f"{export_dir} holds files that are not an export "
                                      f"({', '.join(others[:5])}{', ...' if len(others) > 5 else ''}); "
                                      "--overwrite replaces only an earlier export: choose another folder")
    staging = f"{export_dir}.partial-{os.getpid()}"
    try:
        os.makedirs(staging)
    except OSError as err:
        raise configs.ConfigError("export_dir", f"cannot write beside {export_dir}: {err.strerror or err}") from None
    try:
        model, path = load_trained_model(logdir, checkpoint, log)
        try:
            export_generator(model, staging)
        except (OSError, tf.errors.OpError) as err:
            reason = getattr(err, "strerror", None) or getattr(err, "message", None) or str(err)
            raise configs.ConfigError("export_dir", f"cannot write {export_dir}: {reason}") from None
        if os.path.isdir(export_dir):
            shutil.rmtree(export_dir)  # empty, or an earlier export only (checked above)
        os.replace(staging, export_dir)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return path
