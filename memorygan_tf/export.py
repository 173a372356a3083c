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
import numpy as np
import tensorflow as tf

from memorygan_tf import cli, configs, rundir, serving

VERIFY_ROWS, VERIFY_SEED = 4, (0, 1)  # the noise the written SavedModel is checked on


class _Recording:
    """A keras.export.ExportArchive (whose constructor hands back its backend's class) seen
    through a wrapper that keeps the function of each endpoint added ({name: tf.function}),
    so that they can be traced one by one and called before the archive is written."""

    def __init__(self, archive):
        self.archive, self.endpoints = archive, {}

    def add_endpoint(self, name, fn, input_signature=None, **kwargs):
        self.endpoints[name] = self.archive.add_endpoint(name, fn, input_signature, **kwargs)
        return self.endpoints[name]

    def __getattr__(self, name):  # everything else is the archive's
        return getattr(self.archive, name)


def export_generator(model, export_dir, weights="auto", log=lambda message: None):
    """Writes the SavedModel of `model`'s generator with the model's signatures to export_dir,
    saying each step to `log`: tracing each signature, writing, verifying. The verification
    loads the SavedModel back and asks it for the model's noise and serve(z) of that noise:
    both must be what the model gave before writing (else configs.ConfigError naming
    --export_dir). Returns export_dir.

    `weights` (GAN.generator_weights): "ema" serves the moving average of the generator
    (--g_ema_decay), "trained" the trained weights, "auto" the average where the run keeps one."""
    with model.generator_weights(weights) as used:
        log(f"Serving the generator's {'moving average' if used == 'ema' else 'trained weights'}.")
        archive = _write_archive(model, export_dir, log)
        z = archive.endpoints["noise"](tf.constant(VERIFY_ROWS), tf.constant(VERIFY_SEED, tf.int64))["z"]
        expected = {"noise": z.numpy(), **{k: v.numpy() for k, v in archive.endpoints["serve"](z).items()}}
    log("Verifying: loading the SavedModel back and serving the same noise ...")
    verify_export(export_dir, expected)
    return export_dir


def _write_archive(model, export_dir, log):
    # Endpoints track the variables they use; tracking the generator explicitly as well
    # stored every weight twice (57 MiB instead of 31 MiB for Fashion-MNIST).
    archive = _Recording(keras.export.ExportArchive())
    model.add_serving_endpoints(archive, serving.z_spec(model))

    def noise(count, seed):  # z of the model's prior, so a client draws what the model was trained on
        return {"z": model.sample_noise(count, seed)}

    archive.add_endpoint("noise", noise, input_signature=[tf.TensorSpec([], tf.int32, name="count"),
                                                          serving.seed_spec()])
    for i, (name, endpoint) in enumerate(archive.endpoints.items()):
        log(f"Tracing {name} ({i + 1}/{len(archive.endpoints)}) ...")
        endpoint.get_concrete_function()  # write_out reuses the trace
    log("Writing the SavedModel ...")
    archive.write_out(export_dir, verbose=False)
    return archive


def verify_export(export_dir, expected, atol=1e-5):
    """Loads the SavedModel in export_dir and checks that noise(VERIFY_ROWS, VERIFY_SEED) and
    serve(z) of that noise give `expected` ({"noise": z, and serve's outputs}). Raises
    configs.ConfigError naming --export_dir, one line, where they differ."""
    loaded = tf.saved_model.load(export_dir)
    z = loaded.noise(tf.constant(VERIFY_ROWS), tf.constant(VERIFY_SEED, tf.int64))["z"]
    got = {"noise": z.numpy(), **{k: v.numpy() for k, v in loaded.serve(tf.constant(expected["noise"])).items()}}
    for name, value in expected.items():
        if name not in got or got[name].shape != value.shape:
            raise configs.ConfigError("export_dir", f"the written SavedModel does not serve {name} as the model "
                                      "does (missing or of another shape)")
        if not np.allclose(got[name], value, rtol=0.0, atol=atol):
            difference = float(np.max(np.abs(got[name].astype(np.float64) - value)))
            raise configs.ConfigError("export_dir", f"the written SavedModel serves other {name} than the model "
                                      f"(largest difference {difference:.3g})")


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
    configs.check_generator_weights(weights)  # before the model is loaded
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
        log(f"Loading the newest checkpoint of {logdir} that loads ..." if checkpoint is None
            else f"Loading {checkpoint} ...")
        model, path = run.load_model(checkpoint, log)
        log(f"Loaded {path} (step {int(model.step.numpy())}).")
        try:
            export_generator(model, staging, weights, log)
        except (OSError, tf.errors.OpError) as err:
            reason = getattr(err, "strerror", None) or getattr(err, "message", None) or str(err)
            raise configs.ConfigError("export_dir", f"cannot write {export_dir}: {reason}") from None
        # empty, or an earlier export only (checked above): kept whole until the new one is in
        cli.replace_folder(staging, export_dir)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return path
