"""SavedModel export: CLI, then a fresh process that imports only TensorFlow."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, export, trainer
from tests.helpers import ROOT, TINY_MODEL, assert_one_line_error, blobs

LOADER = r"""
import sys
import numpy as np
import tensorflow as tf

expected = np.load(sys.argv[2])
loaded = tf.saved_model.load(sys.argv[1])
assert "memorygan_tf" not in sys.modules
serve = loaded.signatures["serving_default"]
z = tf.constant(expected["z"])
out = serve(z=z)
images, slots = out["images"].numpy(), out["slots"].numpy()
assert images.shape == (len(z), 28, 28, 1), images.shape
assert images.min() >= 0.0 and images.max() <= 1.0
assert np.all(expected["values"][slots] == 1.0), "slots must be real-labelled"
again = serve(z=z)
np.testing.assert_array_equal(again["images"].numpy(), images)  # same z, same image
by_slot = loaded.signatures["generate_from_slot"](z=z, slot=tf.constant(expected["slot"]))["images"].numpy()
np.testing.assert_allclose(by_slot, expected["images"], atol=1e-5)
s1 = loaded.signatures["sample"](z=z, seed=tf.constant([1, 2], tf.int64))
s2 = loaded.signatures["sample"](z=z, seed=tf.constant([1, 2], tf.int64))
np.testing.assert_array_equal(s1["slots"].numpy(), s2["slots"].numpy())
print("LOADED-OK", len(np.unique(slots)))
"""


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("run"))
    config = configs.make_config("fashion_mnist", model_overrides=TINY_MODEL, train_overrides=dict(
        batch_size=8, steps_per_epoch=3, logdir=logdir, num_sample_images=4))
    model = trainer.train(config, blobs(32), verbose=0)
    return logdir, model


@pytest.mark.slow
def test_export_round_trip_in_fresh_process(trained_run, tmp_path):
    logdir, model = trained_run
    export_dir = str(tmp_path / "export")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cli = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_generator.py"),
                          f"--logdir={logdir}", f"--export_dir={export_dir}"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "Exported" in cli.stdout and os.path.exists(os.path.join(export_dir, "saved_model.pb"))
    # each step is said as it starts, in order
    steps = ["importing TensorFlow", "Loading the newest checkpoint", "Loaded ", "moving average",
             "Tracing serve (1/4)", "Tracing sample (2/4)", "Tracing generate_from_slot (3/4)", "Tracing noise (4/4)",
             "Writing the SavedModel", "Verifying", "Exported"]
    at = [cli.stdout.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), cli.stdout

    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(6, 2)).astype(np.float32)
    real = np.flatnonzero(model.memory.values.numpy() == 1.0)
    slot = real[rng.integers(0, len(real), 6)].astype(np.int32)
    with model.ema_generator():  # the export serves the generator's moving average (--weights=auto)
        images = model.generator(model.latent_from(tf.constant(z), tf.constant(slot)), training=False).numpy()
    expected = str(tmp_path / "expected.npz")
    np.savez(expected, z=z, slot=slot, images=images, values=model.memory.values.numpy())
    script = tmp_path / "load.py"
    script.write_text(LOADER)
    result = subprocess.run([sys.executable, str(script), export_dir, expected], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED-OK" in result.stdout


def test_export_without_memory_conditioning(tmp_path):
    config = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, use_mcgn=False),
                                 train_overrides=dict(batch_size=8))
    model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=1)
    export.export_generator(model, str(tmp_path / "e"))
    loaded = tf.saved_model.load(str(tmp_path / "e"))
    out = loaded.signatures["serving_default"](z=tf.zeros([3, model.noise_dim]))  # z-only: the DCGAN's noise
    assert out["images"].shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(out["slots"].numpy(), [-1, -1, -1])


@pytest.mark.messages
def test_export_cli_reports_missing_run(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_generator.py"),
                             f"--logdir={tmp_path}", f"--export_dir={tmp_path / 'x'}"],
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert_one_line_error(result, "--logdir", "not a run directory")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_signatures_reject_a_non_finite_z_naming_it(trained_run, tmp_path, bad):
    """A NaN or Inf z is an error that names z, not an all-NaN image."""
    logdir, model = trained_run
    export_dir = str(tmp_path / "export")
    export.export_from_logdir(logdir, export_dir)
    loaded = tf.saved_model.load(export_dir)
    z = np.zeros((3, model.config.z_dim), np.float32)
    z[1, 0] = bad
    calls = {"serving_default": dict(z=tf.constant(z)),
             "sample": dict(z=tf.constant(z), seed=tf.constant([1, 2], tf.int64)),
             "generate_from_slot": dict(z=tf.constant(z), slot=tf.constant([0, 1, 2], tf.int32))}
    for name, kwargs in calls.items():
        with pytest.raises(tf.errors.InvalidArgumentError, match="input z holds NaN or Inf"):
            loaded.signatures[name](**kwargs)
    z[1, 0] = 0.0  # finite again: served
    assert np.all(np.isfinite(loaded.signatures["serving_default"](z=tf.constant(z))["images"].numpy()))


def test_generate_from_slot_rejects_slots_outside_the_memory(trained_run, tmp_path):
    logdir, model = trained_run
    export_dir = str(tmp_path / "export")
    export.export_from_logdir(logdir, export_dir)
    generate = tf.saved_model.load(export_dir).signatures["generate_from_slot"]
    z = tf.zeros((2, model.config.z_dim))
    size = model.config.memory_size
    for slots in ([0, size], [-1, 0]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="input slot must lie in"):
            generate(z=z, slot=tf.constant(slots, tf.int32))
    assert generate(z=z, slot=tf.constant([0, size - 1], tf.int32))["images"].shape == (2, 28, 28, 1)


def test_export_refuses_a_savedmodel_that_does_not_serve_what_the_model_does(trained_run, tmp_path, monkeypatch):
    """The written SavedModel is loaded back and must serve the model's images: one that
    does not (here a load that shifts serve's images) is refused naming --export_dir, and
    export_from_logdir leaves nothing in its place."""
    logdir, _ = trained_run
    load = tf.saved_model.load

    class Shifted:
        def __init__(self, loaded):
            self.loaded = loaded
            self.noise = loaded.noise

        def serve(self, z):
            out = dict(self.loaded.serve(z))
            out["images"] = out["images"] + 0.01
            return out

    monkeypatch.setattr(tf.saved_model, "load", lambda path: Shifted(load(path)))
    export_dir = tmp_path / "export"
    with pytest.raises(configs.ConfigError, match=r"--export_dir: the written SavedModel serves other images"):
        export.export_from_logdir(logdir, str(export_dir))
    assert not export_dir.exists() and not list(tmp_path.glob("export.partial-*"))
    monkeypatch.setattr(tf.saved_model, "load", load)
    export.export_from_logdir(logdir, str(export_dir))  # the same export, loaded as it is: accepted
    assert (export_dir / "saved_model.pb").exists()


@pytest.mark.slow
@pytest.mark.messages
def test_ema_of_a_run_without_an_average_is_one_line_from_both_tools(tmp_path):
    logdir = str(tmp_path / "run")
    config = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, g_ema_decay=0.0),
                                 train_overrides=dict(batch_size=8, steps_per_epoch=2, logdir=logdir,
                                                      num_sample_images=4))
    trainer.train(config, blobs(16), verbose=0)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    exported = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_generator.py"), f"--logdir={logdir}",
                               f"--export_dir={tmp_path / 'export'}", "--weights=ema"],
                              capture_output=True, text=True, timeout=300, env=env)
    generated = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "generate.py"), f"--logdir={logdir}",
                                f"--out={tmp_path / 'images.npz'}", "--weights=ema"],
                               capture_output=True, text=True, timeout=300, env=env)
    needles = ["--weights", "no moving average", "--g_ema_decay=0", "--weights=trained"]
    assert assert_one_line_error(exported, *needles) == assert_one_line_error(generated, *needles)
    assert not (tmp_path / "export").exists() and not (tmp_path / "images.npz").exists()
    assert not list(tmp_path.glob("export.partial-*"))
