"""Export a run's generator as a TF SavedModel for serving.

The SavedModel needs only TensorFlow to load (`tf.saved_model.load`) or serve
(TF Serving). Every model has (images are float32 in [0, 1], whatever the generator's
output activation; z is float32 [None, z_dim]):

* ``serving_default(z)``: images from z, the model's controls derived from a uniform
  hashed from each row's z, so a request is reproducible: the same z always gives the
  same image;
* ``sample(z, seed)``: as above, the controls drawn from a stateless seed int64 [2];

and one signature per control (each model's `add_serving_endpoints` says what it
returns): MemoryGAN ``generate_from_slot(z, slot)`` (with a snapshot of the memory's
keys and prior), InfoGAN ``generate_from_code(z, code, continuous)``.
"""

from __future__ import annotations

import os
import shutil

import keras
import tensorflow as tf

from memorygan_tf import cli, configs, rundir, serving


WEIGHTS = ("auto", "ema", "trained")


def export_generator(model, export_dir, weights="auto"):
    """Writes the SavedModel of `model`'s generator with the model's signatures to export_dir.

    `weights`: "ema" serves the moving average of the generator (--g_ema_decay), "trained"
    the trained weights, "auto" the average where the run keeps one."""
    if weights not in WEIGHTS:
        raise configs.ConfigError("weights", f"must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    if weights == "ema" and not model.has_ema:
        raise configs.ConfigError("weights", "the run keeps no moving average of its generator (it was trained "
                                  "with --g_ema_decay=0); export --weights=trained")
    if weights == "trained" or not model.has_ema:
        return _write_archive(model, export_dir)
    with model.ema_generator():
        return _write_archive(model, export_dir)


def _write_archive(model, export_dir):
    # Endpoints track the variables they use; tracking the generator explicitly as well
    # stored every weight twice (57 MiB instead of 31 MiB for Fashion-MNIST).
    archive = keras.export.ExportArchive()
    model.add_serving_endpoints(archive, serving.z_spec(model))

    def noise(count, seed):  # z of the model's prior, so a client draws what the model was trained on
        return {"z": model.sample_noise(count, seed)}

    archive.add_endpoint("noise", noise, input_signature=[tf.TensorSpec([], tf.int32, name="count"),
                                                          serving.seed_spec()])
    archive.write_out(export_dir, verbose=False)
    return export_dir


# What tf.saved_model.save writes: --overwrite replaces a folder holding only these.
SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "fingerprint.pb", "variables", "assets"})


def is_export(folder):
    """Whether `folder` holds an earlier export and nothing else."""
    entries = set(os.listdir(folder))
    return "saved_model.pb" in entries and entries <= SAVED_MODEL_ENTRIES


def export_from_logdir(logdir, export_dir, checkpoint=None, overwrite=False, log=lambda message: None,
                       weights="auto"):
    """Exports the generator of a finished (or running) run (`weights`: export_generator's).
    Returns the checkpoint used.

    Refuses (configs.ConfigError) an --export_dir that is a file, a non-empty one unless
    `overwrite`, and even with `overwrite` one that holds anything but an earlier
    export: the user's files are never deleted. A symbolic link, or a place inside a run
    directory that the run owns, is refused. The SavedModel is written to a new folder
    beside export_dir (export_dir.partial-PID) first and moved in place at the end by
    cli.replace_folder (the earlier export renamed aside, the new one in, only then the
    earlier one deleted), so a failed or killed export leaves an earlier one whole; such
    leftovers of a killed export are removed by the next one. The staging folder is made
    before the model is loaded, so an unwritable place fails at once.
    """
    if weights not in WEIGHTS:
        raise configs.ConfigError("weights", f"must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    run = rundir.RunDir(logdir)
    if not run.has_config():
        raise configs.ConfigError("logdir", f"{logdir} is not a run directory (no {run.CONFIG})")
    run.load_config()  # an unreadable config.json: one line naming it, before any work
    given, export_dir = export_dir, os.path.abspath(export_dir)
    if os.path.islink(given.rstrip(os.sep) or given) or os.path.islink(export_dir):
        raise configs.ConfigError("export_dir", f"{given} is a symbolic link (to {os.path.realpath(export_dir)}); "
                                  "give the real folder, so the export replaces what you mean")
    refused = cli.check_output(export_dir, "export_dir", cli.outside_reserved)
    if refused:
        raise configs.ConfigError("export_dir", refused.split(": ", 1)[1])
    cli.remove_stale_siblings(export_dir, log)
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
        model, path = run.load_model(checkpoint, log)
        try:
            export_generator(model, staging, weights)
        except (OSError, tf.errors.OpError) as err:
            reason = getattr(err, "strerror", None) or getattr(err, "message", None) or str(err)
            raise configs.ConfigError("export_dir", f"cannot write {export_dir}: {reason}") from None
        # empty, or an earlier export only (checked above): kept whole until the new one is in
        cli.replace_folder(staging, export_dir)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return path
