"""One source of truth: flags come from the config fields; run configs load old and new."""

import dataclasses
import json

import numpy as np
import pytest

from memorygan_tf import configs, data, rundir


def test_every_option_field_is_a_flag_with_its_choices():
    from absl import flags

    from memorygan_tf import main  # noqa: F401 - defines the flags

    fields = configs.flag_fields()
    assert {"kappa", "batch_write", "writes_per_step", "model", "learning_rate", "epochs"} <= {f[1] for f in fields}
    for section, name, flag, kind, field in fields:
        assert flag in flags.FLAGS, flag
        choices = field.metadata["choices"]
        if choices is not None and kind is str:
            assert list(flags.FLAGS[flag].parser.enum_values) == list(choices), flag
    assert flags.FLAGS["beta1"].help.startswith("Adam beta_1")


@pytest.mark.parametrize("field,value,flag", [
    ("kappa", 0.0, "kappa"), ("kappa", -1.0, "kappa"), ("kappa", float("nan"), "kappa"),
    ("beta", -1.0, "beta"), ("mi_lambda", float("nan"), "mi_lambda"), ("alpha", float("inf"), "alpha"),
    ("writes_per_step", 2, "writes_per_step"), ("batch_write", "first", "batch_write"),
    ("update_rule", "magic", "update_rule"), ("prior_temperature", 0.0, "prior_temperature"),
    ("prior_temperature", float("nan"), "prior_temperature"), ("prior_temperature", float("inf"), "prior_temperature"),
])
def test_bad_model_values_name_their_flag(field, value, flag):
    config = configs.make_config("fashion_mnist")
    bad = dataclasses.replace(config, model=dataclasses.replace(config.model, **{field: value}))
    with pytest.raises(configs.ConfigError, match=f"^--{flag}: "):
        configs.validate(bad)


def test_nan_learning_rate_is_refused():
    with pytest.raises(configs.ConfigError, match="^--learning_rate: "):
        configs.make_config("fashion_mnist", optimizer_overrides=dict(learning_rate=float("nan")))


@pytest.mark.parametrize("size", [48, 30])
def test_custom_images_without_a_network_are_refused_up_front(size):
    with pytest.raises(configs.ConfigError, match=r"--data_path: images are \d+x\d+; networks exist for 28x28"):
        configs.make_config("custom", model_overrides=dict(image_shape=(size, size, 1)),
                            train_overrides=dict(data_path="x.npz"))


def test_explicit_architecture_must_fit_the_images():
    with pytest.raises(configs.ConfigError, match="--architecture: dcgan40 takes 40x40"):
        configs.make_config("fashion_mnist", model_overrides=dict(architecture="dcgan40"))


def test_shared_presets_hold_what_every_gan_has_and_each_gan_its_own():
    """The data sets' presets set only fields every GAN has; a GAN's own options are set
    by its own declaration's presets alone, so another GAN's config keeps their defaults."""
    generic = {f.name for f in dataclasses.fields(configs.GenericModelConfig)}
    for dataset, preset in configs.PRESETS.items():
        assert set(preset["model"]) <= generic, dataset
    for name, declaration in configs.DECLARATIONS.items():
        own = {f.name for f in dataclasses.fields(declaration.options)} if declaration.options else set()
        for values in (declaration.preset, *declaration.dataset_presets.values()):
            assert set(values) <= own | generic, name
        assert set(declaration.dataset_presets) <= set(configs.PRESETS), name
    defaults = configs.ModelConfig()
    for dataset in ("fashion_mnist", "cifar10"):
        memorygan = configs.make_config(dataset).model
        dcgan = configs.make_config(dataset, model_overrides=dict(model="dcgan")).model
        for field in ("kappa", "memory_size", "choose_k", "mi_lambda"):
            assert getattr(dcgan, field) == getattr(defaults, field), (dataset, field)
        assert (memorygan.kappa, memorygan.memory_size) == {"fashion_mnist": (10.0, 4096),
                                                            "cifar10": (1.0, 16384)}[dataset]
    custom = configs.make_config("custom", train_overrides=dict(data_path="x.npz")).model  # Fashion-MNIST's
    assert custom == configs.make_config("fashion_mnist").model


def test_run_config_tolerates_added_and_removed_fields(tmp_path):
    config = configs.make_config("fashion_mnist", model_overrides=dict(kappa=10.0))
    raw = dataclasses.asdict(config)
    del raw["model"]["batch_write"]  # written before the field existed
    raw["model"]["some_retired_option"] = 3  # written by a version that had it
    (tmp_path / "config.json").write_text(json.dumps(raw))
    loaded = rundir.RunDir(tmp_path).load_config()
    assert loaded.model.kappa == 10.0 and loaded.model.batch_write == "sum"
    assert loaded.model.image_shape == (28, 28, 1)
    raw["model"]["kappa"] = -1.0
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(configs.ConfigError, match="--kappa"):
        rundir.RunDir(tmp_path).load_config()


# --------------------------------------------------------------- pixel ranges
def test_float_images_in_minus_one_one_are_rescaled_not_clipped():
    images = np.linspace(-1.0, 1.0, 2 * 28 * 28).reshape(2, 28, 28).astype(np.float32)
    out = data.as_nhwc_uint8(images, "x")
    assert out.min() == 0 and out.max() == 255 and out.dtype == np.uint8


@pytest.mark.parametrize("images,message", [
    (np.full((2, 28, 28), np.nan, np.float32), "NaN or Inf"),
    (np.eye(28, dtype=np.uint8)[None].repeat(2, 0), "binary images"),
    (np.full((2, 28, 28), 300.0), r"span \[300, 300\]"),
    (np.full((2, 28, 28), -5.0), "expected uint8"),
    (np.zeros((0, 28, 28), np.float32), "no images"),
])
def test_suspicious_pixels_are_refused(images, message):
    with pytest.raises(data.DataError, match=message):
        data.as_nhwc_uint8(images, "x")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_unreadable_npz_is_one_line(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(data.DataError, match="cannot read .*bad.npz") as err:
        data.load_local(str(path))
    assert "\n" not in str(err.value)


def test_truncated_npz_with_valid_header_is_one_line(tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x_train=np.random.default_rng(0).integers(0, 255, (50, 28, 28), np.uint8))
    raw = good.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.DataError, match="cannot read"):
        data.load_local(str(bad))
    corrupt = bytearray(raw)
    corrupt[200:260] = b"\x00" * 60  # inside the deflate stream
    (tmp_path / "corrupt.npz").write_bytes(bytes(corrupt))
    with pytest.raises(data.DataError, match="cannot read"):
        data.load_local(str(tmp_path / "corrupt.npz"))


def test_image_folder_errors_say_what_is_wrong(tmp_path):
    import tensorflow as tf

    grey = tf.io.encode_png(np.zeros((28, 28, 1), np.uint8)).numpy()
    colour = tf.io.encode_png(np.zeros((28, 28, 3), np.uint8)).numpy()
    (tmp_path / "a.png").write_bytes(grey)
    (tmp_path / "b.png").write_bytes(colour)
    with pytest.raises(data.DataError, match="differ in channels") as err:
        data.load_image_folder(str(tmp_path))
    assert "size" not in str(err.value)
    (tmp_path / "b.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(data.DataError) as err:
        data.load_image_folder(str(tmp_path))
    message = str(err.value)
    assert message.startswith("cannot decode") and "b.png" in message
    assert "\n" not in message and "{{" not in message and "Op:" not in message  # no TF internals
