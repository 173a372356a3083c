"""A sixth GAN, declared in this file alone: its options, preset, rules and model. No
other file names it; a subprocess of the harness learns of it through the
MEMORYGAN_TF_MODELS environment variable (configs.PLUGINS_ENV), this process through
configs.register_model. The harness then trains, resumes, exports, evaluates, lists and
tunes it as the built-in GANs; and a resume that changes a shape option of any
registered GAN is refused in one line naming it, with or without --override_config."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from memorygan_tf import configs, rundir
from memorygan_tf.options import ConfigError, ModelDeclaration, Range, option
from tests.helpers import ROOT, TINY_MODEL, args_for, assert_one_line_error, blobs, tiny_config

NAME = "sixthgan"


# ------------------------------------------------------------ the declaration
@dataclasses.dataclass(frozen=True)
class SixthOptions:
    sixth_width: int = option(8, "SixthGAN: width of the hidden layer of its discriminator head.", shape=True)
    sixth_temperature: float = option(1.0, "SixthGAN: the logit is divided by it.", search=Range(0.5, 2.0))


def validate(config):
    if config.model.sixth_temperature <= 0:
        raise ConfigError("sixth_temperature", f"must be positive, got {config.model.sixth_temperature}")


DECLARATION = ModelDeclaration(name=NAME, model=f"{__name__}:SixthGAN", options=SixthOptions,
                               preset=dict(z_dim=6), validate=validate,
                               summary="sixthgan (a test's: a two-layer logit head)")


# ------------------------------------------------------------------ the model
def _model_class():
    import keras
    import tensorflow as tf

    from memorygan_tf import serving
    from memorygan_tf.models import base

    class SixthGAN(base.GAN):
        """The plain GAN's game with a two-layer logit head on the shared encoder."""

        def build_heads(self):
            c = self.config
            self.head = keras.Sequential([keras.Input((c.key_dim,)), keras.layers.Dense(c.sixth_width),
                                          keras.layers.LeakyReLU(0.2), keras.layers.Dense(1), keras.layers.Reshape(())],
                                         name="sixth_head")

        @property
        def head_variables(self):
            return self.head.trainable_variables

        def judge(self, features):
            logit = self.head(features, training=True) / self.config.sixth_temperature
            return tf.math.log_sigmoid(logit), tf.math.log_sigmoid(-logit), tf.sigmoid(logit)

        def discriminate_pair(self, real, fake, latent):
            log_d_real, log_1m_d_real, d_real = self.judge(self.encoder(real, training=True))
            _, log_1m_d_fake, d_fake = self.judge(self.encoder(fake, training=True))
            zero = tf.zeros([], keras.backend.floatx())
            return base.DiscriminatorOutputs(log_d_real, log_1m_d_real, log_1m_d_fake, d_real, d_fake, info=zero)

        def judge_generated(self, raw_fake, latent):
            log_d_fake, log_1m_d_fake, _ = self.judge(raw_fake)
            return base.GeneratorOutputs(log_d_fake, log_1m_d_fake, info=tf.zeros([], keras.backend.floatx()))

        def add_serving_endpoints(self, archive, z_spec):
            def serve(z):
                return {"images": serving.images_from(self, serving.finite(z))}

            def sample(z, seed):
                del seed
                return serve(z)

            archive.add_endpoint("serve", serve, input_signature=[z_spec])
            archive.add_endpoint("sample", sample, input_signature=[z_spec, serving.seed_spec()])

    return SixthGAN


def __getattr__(name):  # the class is made (with TensorFlow) when the harness builds the model
    if name == "SixthGAN":
        globals()["SixthGAN"] = _model_class()
        return globals()["SixthGAN"]
    raise AttributeError(name)


# ------------------------------------------------------------------ the tests
@pytest.fixture
def registered():
    configs.register_model(DECLARATION)
    try:
        yield
    finally:
        configs.unregister_model(NAME)


def harness(*args, tool=None, timeout=600):
    """A subprocess of the harness (main, or tools/<tool>) that registers this file's GAN."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT, **{configs.PLUGINS_ENV: __name__})
    command = [sys.executable, os.path.join(ROOT, "tools", tool)] if tool else [sys.executable, "-m",
                                                                                  "memorygan_tf.main"]
    return subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_declaration_makes_flags_fields_shape_and_search_space(registered):
    from memorygan_tf import models, tuning

    config = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, model=NAME))
    assert NAME in configs.MODELS and config.model.z_dim == 6 and config.model.sixth_width == 8
    assert ("model", "sixth_width") in configs.shape_fields()
    assert ("model", "sixth_temperature") not in configs.shape_fields()
    assert {"sixth_temperature"} <= {e.flag for e in tuning.search_space(model=NAME)}
    assert "sixth_temperature" not in {e.flag for e in tuning.search_space(model="memorygan")}
    with pytest.raises(ConfigError, match="--sixth_temperature: must be positive"):
        configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, model=NAME, sixth_temperature=0.0))
    assert models.model_class(config.model).__name__ == "SixthGAN"
    assert NAME in models.REGISTRY
    model = models.build(config.model)
    assert model.figures == ("samples", "interpolate") and model.generate(3, np.array([0, 1])).shape == (3, 28, 28, 1)


def test_unregistered_it_is_gone():
    assert NAME not in configs.MODELS and "sixth_width" not in {f.name for f in dataclasses.fields(configs.ModelConfig)}


@pytest.mark.parametrize("name", sorted(set(configs.MODELS) | {NAME}))
def test_a_shape_option_changed_on_resume_is_refused_in_one_line(registered, name):
    """Every registered GAN's shape options (its own and the generic ones) are refused on
    resume, with or without --override_config, in one line naming the flag."""
    saved = tiny_config(model=name)
    own = [n for s, n in configs.shape_fields() if s == "model" and configs.belongs_to(
        next(f for f in dataclasses.fields(configs.ModelConfig) if f.name == n), name)
        and n not in ("image_shape", "model", "architecture", "output_activation")]
    assert own
    for field in own:
        old = getattr(saved.model, field)
        new = (not old) if isinstance(old, bool) else old * 2 if old else 1
        requested = dataclasses.replace(saved, model=dataclasses.replace(saved.model, **{field: new}))
        for override in (False, True):
            with pytest.raises(ConfigError, match=rf"--{field}={new} \(saved: {old}\).*shape") as caught:
                rundir.resume_config(saved, requested, {("model", field)}, override=override)
            assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_the_harness_trains_resumes_exports_evaluates_and_lists_it(tmp_path):
    images = blobs(96)[..., 0]
    labels = (np.arange(96) % 3).astype(np.uint8)
    data = str(tmp_path / "blobs.npz")
    np.savez(data, x_train=images[:64], y_train=labels[:64], x_test=images[64:], y_test=labels[64:])
    logdir = str(tmp_path / "run")

    listed = harness("--helpfull")
    assert NAME in listed.stdout and "--sixth_width" in listed.stdout, listed.stderr[-2000:]

    first = harness(*args_for(data, logdir, f"--model={NAME}", "--sixth_width=5", "--epochs=1"))
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    run = rundir.RunDir(logdir)
    with open(run.config_path) as f:
        saved = json.load(f)
    assert saved["model"]["model"] == NAME and saved["model"]["sixth_width"] == 5 and saved["model"]["z_dim"] == 6
    assert [step for step, _ in run.checkpoint_files()] == [2]

    resumed = harness(*args_for(data, logdir, f"--model={NAME}", "--epochs=2"))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "Resumed from" in resumed.stdout and run.has_checkpoint(4)
    for extra in ((), ("--override_config",)):
        refused = harness(*args_for(data, logdir, f"--model={NAME}", "--sixth_width=7", "--epochs=3", *extra))
        assert_one_line_error(refused, "--sixth_width=7 (saved: 5)", "shape")

    export_dir = str(tmp_path / "export")
    exported = harness(f"--logdir={logdir}", f"--export_dir={export_dir}", tool="export_generator.py")
    assert exported.returncode == 0, exported.stdout[-2000:] + exported.stderr[-2000:]
    assert os.path.exists(os.path.join(export_dir, "saved_model.pb"))

    from memorygan_tf import evaluation

    classifier = str(tmp_path / "classifier")
    evaluation.train_classifier(images[:64, ..., None], labels[:64], images[64:, ..., None], labels[64:],
                                classifier, epochs=1, batch_size=16, flip=False, width=4, verbose=0)
    with open(os.path.join(classifier, "classifier.json"), "w") as f:
        json.dump({"test_accuracy": 0.0}, f)
    scored = harness(f"--logdir={logdir}", f"--classifier={classifier}", "--num_samples=20", "--splits=2",
                     f"--data_path={data}", tool="evaluate.py")
    assert scored.returncode == 0, scored.stdout[-2000:] + scored.stderr[-2000:]
    with open(run.evaluation(4)) as f:
        result = json.load(f)
    assert result["step"] == 4 and result["fid"] >= 0.0 and result["config"]["model"]["model"] == NAME

    figure = harness("samples", f"--logdir={logdir}", f"--out={tmp_path / 'samples.png'}", tool="visualize.py")
    assert figure.returncode == 0, figure.stderr[-2000:]
    refused = harness("slots", f"--logdir={logdir}", f"--out={tmp_path / 'slots.png'}", tool="visualize.py")
    assert_one_line_error(refused, "slots is not a figure of a SixthGAN run")
