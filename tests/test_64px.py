"""64x64 images: the resnet64 networks for every model and option, folders cut and resized
by --image_size / --center_crop, the release's --use_augmentation, and the command line
training, resuming and exporting a 64-pixel folder."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, data, networks, trainer
from tests.helpers import ROOT, TINY_MODEL, args_for, assert_one_line_error, blobs, run_main
from tests.test_models import TINY


def config_64(name="memorygan", batch_size=8, logdir=None, train=None, **model):
    """A tiny 64x64 colour config of model `name` (the size set by --image_size, as a user does)."""
    overrides = dict(TINY_MODEL, model=name, output_activation="tanh", **TINY.get(name, {}))
    overrides.update(model)
    train_overrides = dict(batch_size=batch_size, image_size=64, steps_per_epoch=2, num_sample_images=4,
                           keep_checkpoints=2, **(train or {}))
    if logdir:
        train_overrides["logdir"] = str(logdir)
    return configs.make_config("cifar10", model_overrides=overrides, train_overrides=train_overrides)


def write_pngs(folder, images):
    os.makedirs(folder, exist_ok=True)
    for i, image in enumerate(images):
        tf.io.write_file(os.path.join(folder, f"{i:03d}.png"), tf.io.encode_png(image))
    return str(folder)


# ------------------------------------------------------------------------- networks
@pytest.mark.parametrize("name", configs.MODELS)
def test_every_model_builds_64px_networks(name):
    config = config_64(name)
    assert config.model.image_shape == (64, 64, 3) and networks.architecture_for(config.model) == "resnet64"
    model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=2)
    assert model.encoder.input_shape == (None, 64, 64, 3)
    assert model.encoder.output_shape == (None, config.model.key_dim)
    assert model.generator.input_shape == (None, model.generator_input_dim())
    assert model.generator.output_shape == (None, 64, 64, 3)
    assert model.encoder.get_layer(networks.FEATURES).output.shape[1:] == (4, 4, 8 * config.model.f_dim)
    images = model.generator(tf.zeros([3, model.generator_input_dim()]), training=False).numpy()
    assert images.shape == (3, 64, 64, 3) and -1.0 <= images.min() and images.max() <= 1.0
    if name == "micgan":  # the mode encoder shrinks 64 px to 4x4 before its dense layer
        encoder = networks.build_mode_encoder(config.model, 5)
        assert encoder.output_shape == (None, 5)


def test_resnet64_widths_at_the_papers_size():
    """f_dim 64 gives WGAN-GP 64's widths: 64 channels at 64 px up to 512 at 4x4."""
    model = dataclasses.replace(config_64().model, f_dim=64, key_dim=512)
    encoder, generator = networks.build_encoder(model), networks.build_generator(model, 16 + 512)
    assert encoder.get_layer(networks.FEATURES).output.shape[1:] == (4, 4, 512)
    assert encoder.output_shape == (None, 512) and generator.output_shape == (None, 64, 64, 3)
    convs = [layer for layer in generator.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert convs[-1].input.shape[1:] == (64, 64, 64)  # the last block is f wide at 64 px


@pytest.mark.slow  # ~30 s a model on two shared cores (MIC-GANs: 80 s)
@pytest.mark.parametrize("name", configs.MODELS)
def test_every_model_trains_two_steps_at_64px(name, tmp_path):
    config = config_64(name, logdir=tmp_path / name)
    model = trainer.train(config, blobs(32, size=64, channels=3), verbose=0, log=lambda m: None)
    assert int(model.step.numpy()) == 2
    assert all(np.all(np.isfinite(w.numpy())) for w in model.generator.weights)


@pytest.mark.slow  # ~30 s each
@pytest.mark.parametrize("name", ["memorygan", "dcgan"])
@pytest.mark.parametrize("option", [dict(self_modulation=True), dict(spectral_norm=True),
                                    dict(minibatch_discrimination=True), dict(feature_matching=True),
                                    dict(precision="mixed_bfloat16")])
def test_options_at_64px(name, option, tmp_path):
    train = {k: v for k, v in option.items() if k == "precision"}
    model_options = {k: v for k, v in option.items() if k != "precision"}
    config = config_64(name, logdir=tmp_path / "run", train=train, **model_options)
    model = trainer.train(config, blobs(16, size=64, channels=3), verbose=0, log=lambda m: None)
    assert int(model.step.numpy()) == 2
    assert model.generator.output_shape == (None, 64, 64, 3)
    assert all(np.all(np.isfinite(w.numpy())) for w in model.encoder.weights + model.generator.weights)


# --------------------------------------------------------------- crop and resize
def test_center_crop_box_is_the_releases():
    # The largest centred square; an odd margin puts its extra pixel above / left (Python 2's round).
    assert data.center_crop_box(218, 178, image_size=64) == (20, 0, 178)
    assert data.center_crop_box(101, 100, image_size=64) == (1, 0, 100)
    assert data.center_crop_box(218, 178, center_crop=108) == (55, 35, 108)
    assert data.center_crop_box(64, 64, image_size=64) is None
    assert data.center_crop_box(80, 90) is None  # neither flag: no cut
    with pytest.raises(data.DataError, match=r"^--center_crop: a 200x200 square does not fit in 178x218"):
        data.center_crop_box(218, 178, center_crop=200)


def test_center_crop_and_resize_against_numpy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 101, 120, 3), dtype=np.uint8)
    cut = data.center_crop_and_resize(images, center_crop=40)  # a cut alone keeps its pixels
    np.testing.assert_array_equal(cut, images[:, 31:71, 40:80])
    same = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(data.center_crop_and_resize(same, image_size=64), same)
    flat = np.full((2, 130, 128, 1), 77, np.uint8)
    out = data.center_crop_and_resize(flat, image_size=64)
    assert out.shape == (2, 64, 64, 1) and out.dtype == np.uint8 and np.all(out == 77)
    # Halving averages: each output pixel of an antialiased 2x shrink weighs the 4x4 source
    # neighbourhood with the tent [1, 3, 3, 1] / 8 in each direction (edges renormalised).
    big = rng.integers(0, 256, (1, 128, 128, 1), dtype=np.uint8)
    out = data.center_crop_and_resize(big, image_size=64).astype(np.float64)
    tent = np.array([1, 3, 3, 1]) / 8.0
    window = big[0, 2 * 10 - 1:2 * 10 + 3, 2 * 20 - 1:2 * 20 + 3, 0].astype(np.float64)
    assert abs(out[0, 10, 20, 0] - tent @ window @ tent) <= 0.5 + 1e-6
    one = data.center_crop_and_resize(big[0], image_size=64)  # one image [H, W, C] stays one image
    assert one.shape == (64, 64, 1)


def test_folder_of_mixed_large_images_loads_at_64(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "photos"
    write_pngs(folder / "a", [rng.integers(0, 256, (100, 80, 3), dtype=np.uint8) for _ in range(3)])
    write_pngs(folder / "b", [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(2)])
    images = data.load_images("custom", str(folder), image_size=64)
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.uint8
    cropped = data.load_images("custom", str(folder), image_size=64, center_crop=72)
    assert cropped.shape == (5, 64, 64, 3) and not np.array_equal(cropped, images)
    with pytest.raises(data.DataError, match="differ in size.*--image_size"):
        data.load_images("custom", str(folder))
    with pytest.raises(data.DataError, match=r"^--center_crop: a 90x90 square does not fit in 80x100 images"):
        data.load_images("custom", str(folder), image_size=64, center_crop=90)
    # Arrays (.npz) are cut and resized too.
    npz = tmp_path / "x.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (4, 70, 90, 3), dtype=np.uint8))
    assert data.load_images("custom", str(npz), image_size=64).shape == (4, 64, 64, 3)


def test_image_size_sets_the_networks_and_is_checked():
    assert configs.make_config("cifar10", train_overrides=dict(image_size=64)).model.image_shape == (64, 64, 3)
    assert configs.make_config("fashion_mnist", train_overrides=dict(center_crop=28)).model.image_shape == (28, 28, 1)
    explicit = configs.make_config("custom", model_overrides=dict(image_shape=(64, 64, 3)),
                                   train_overrides=dict(data_path="x", image_size=64))
    assert explicit.model.image_shape == (64, 64, 3)
    for train, flag in [(dict(image_size=50), "image_size"), (dict(image_size=-1), "image_size"),
                        (dict(center_crop=-2), "center_crop"), (dict(center_crop=50), "center_crop")]:
        with pytest.raises(configs.ConfigError, match=f"^--{flag}: "):
            configs.make_config("cifar10", train_overrides=train)


# ------------------------------------------------------------------- augmentation
def numpy_augment(images, delta, factor):
    """The release's ops on [0, 1] pixels, in NumPy: + delta, (x - mean) * factor + mean, clip."""
    x = images.astype(np.float64) + delta
    mean = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - mean) * factor + mean, 0.0, 1.0)


def test_augmentation_matches_numpy_and_the_releases_tf_image_ops():
    images = blobs(12, size=16, channels=3, seed=4)
    seed, batch = 7, 4
    plain = iter(data.make_dataset(images, batch, seed=seed, output_activation="tanh"))
    augmented = iter(data.make_dataset(images, batch, seed=seed, output_activation="tanh", augmentation=True))
    deltas = []
    for step in range(5):
        x = (next(plain).numpy() + 1.0) / 2.0  # the un-augmented batch in [0, 1]
        got = (next(augmented).numpy() + 1.0) / 2.0
        delta, factor = (v.numpy() for v in data.augmentation_draws(seed, step))
        assert delta.shape == factor.shape == (1,)
        assert abs(delta[0]) <= 16 / 255 and 0.8 <= factor[0] <= 1.2
        np.testing.assert_allclose(got, numpy_augment(x, delta[0], factor[0]), atol=2e-6)
        # ... which is what tf.image.adjust_brightness / adjust_contrast do (the release's
        # random_brightness / random_contrast, with the drawn values), then the clip.
        release = tf.clip_by_value(tf.image.adjust_contrast(tf.image.adjust_brightness(x, delta[0]), factor[0]), 0, 1)
        np.testing.assert_allclose(got, release.numpy(), atol=2e-6)
        deltas.append(delta[0])
    assert len(set(deltas)) == 5  # a new draw every batch
    # Fixed seed, fixed stream: the first draws are a regression check of the generator.
    again = [float(data.augmentation_draws(seed, step)[0][0]) for step in range(5)]
    assert again == deltas
    # A resumed stream continues the same augmented batches.
    resumed = next(iter(data.make_dataset(images, batch, seed=seed, start_step=4, output_activation="tanh",
                                          augmentation=True))).numpy()
    np.testing.assert_allclose((resumed + 1) / 2, got, atol=1e-7)


def test_augmentation_draws_per_discriminator_batch():
    """With --d_steps=2 each of an element's two batches gets its own draw."""
    images = blobs(16, size=12, channels=1, seed=5)
    plain = next(iter(data.make_dataset(images, 4, seed=1, groups=2))).numpy()
    got = next(iter(data.make_dataset(images, 4, seed=1, groups=2, augmentation=True))).numpy()
    delta, factor = (v.numpy() for v in data.augmentation_draws(1, 0, groups=2))
    assert delta[0] != delta[1]
    for g in range(2):
        np.testing.assert_allclose(got[4 * g:4 * g + 4], numpy_augment(plain[4 * g:4 * g + 4], delta[g], factor[g]),
                                   atol=2e-6)


def test_augmentation_is_off_by_default():
    assert configs.TrainConfig().use_augmentation is False
    images = blobs(8, size=12)
    default = next(iter(data.make_dataset(images, 4, seed=2))).numpy()
    off = next(iter(data.make_dataset(images, 4, seed=2, augmentation=False))).numpy()
    np.testing.assert_array_equal(default, off)
    scaled = images.astype(np.float32) / 255.0
    for row in default:  # every row is one training image as it is
        assert any(np.array_equal(row, image) for image in scaled)


# ------------------------------------------------------------------- command line
@pytest.mark.messages
@pytest.mark.parametrize("args, needle", [
    (["--image_size=50"], "error: --image_size: networks exist for 28, 32, 40, 64 pixels, not 50"),
    (["--image_size=-1"], "error: --image_size: must be >= 0"),
    (["--center_crop=-3"], "error: --center_crop: must be >= 0"),
    (["--image_size=64", "--center_crop=500"], "error: --center_crop: a 500x500 square does not fit in 64x64"),
])
def test_bad_size_flags_stop_with_one_line(args, needle, tmp_path):
    folder = write_pngs(tmp_path / "imgs", blobs(8, size=64, channels=3))
    result = run_main(args_for(folder, str(tmp_path / "run"), *args))
    assert_one_line_error(result, needle)
    assert not os.path.exists(tmp_path / "run")


def _export(logdir, export_dir):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_generator.py"),
                             f"--logdir={logdir}", f"--export_dir={export_dir}"],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]
    inputs = {name: tf.zeros([3] + spec.shape[1:].as_list(), spec.dtype)
              for name, spec in serve.structured_input_signature[1].items()}
    images = serve(**inputs)["images"].numpy()
    assert images.shape == (3, 64, 64, 3) and np.all(np.isfinite(images))


@pytest.mark.slow
@pytest.mark.parametrize("name, larger", [("memorygan", False), ("dcgan", True)])
def test_a_64px_folder_trains_resumes_and_exports(name, larger, tmp_path):
    """MemoryGAN on a folder of 64x64 PNGs; the DCGAN on a folder of larger, non-square
    photos that --image_size=64 --center_crop cuts and resizes; both with augmentation."""
    if larger:
        photos = [np.pad(np.kron(b, np.ones((2, 2, 1), np.uint8)), ((10, 9), (0, 0), (0, 0)))
                  for b in blobs(16, size=64, channels=3)]  # 128 wide, 147 high
        size_flags = ["--image_size=64", "--center_crop=120"]
    else:
        photos, size_flags = blobs(16, size=64, channels=3), []
    folder = write_pngs(tmp_path / "imgs", photos)
    logdir = str(tmp_path / "run")
    args = args_for(folder, logdir, f"--model={name}", "--use_augmentation", "--output_activation=tanh", *size_flags)
    first = run_main(args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "training images of shape (64, 64, 3)" in first.stdout
    assert os.path.exists(os.path.join(logdir, "checkpoints", "ckpt-2.index"))
    second = run_main(args + ["--epochs=2"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert "(step 2)" in second.stdout and os.path.exists(os.path.join(logdir, "checkpoints", "ckpt-4.index"))
    # The size the networks were built for cannot change on resume.
    other = run_main(args_for(folder, logdir, f"--model={name}", "--use_augmentation", "--output_activation=tanh",
                              "--image_size=32", "--epochs=3"))
    assert_one_line_error(other, "--image_size=32 (saved: ", "shape")
    _export(logdir, str(tmp_path / "export"))


# ------------------------------------------------------------------- flagfiles
@pytest.mark.parametrize("name", ["celeba64", "chairs64"])
def test_64px_flagfiles_give_table_3s_settings(name, monkeypatch):
    from absl import flags

    from memorygan_tf import main

    monkeypatch.chdir(ROOT)
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["memorygan", f"--flagfile=flags/{name}.flags"])
        config = main.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
    m, o, t = config.model, config.optimizer, config.train
    assert t.dataset == "custom" and "PATH/TO" in t.data_path  # the documented placeholder
    assert (t.image_size, t.use_augmentation, t.batch_size, t.logdir) == (64, True, 64, f"runs/{name}")
    assert (m.z_dim, m.key_dim, m.memory_size, m.choose_k) == (16, 512, 16384, 256)  # Table 3
    assert m.image_shape[:2] == (64, 64) and networks.architecture_for(m) == "resnet64"
    assert (o.learning_rate, o.lr_decay, o.beta_1, o.beta_2) == (2e-4, "linear", 0.0, 0.9)
    assert m.output_activation == "tanh" and m.model == "memorygan"


def test_benchmark_case_reads_the_flagfiles_networks():
    sys.path.insert(0, ROOT)
    from benchmarks import suite

    model = suite.image64_model_config()
    assert model.image_shape == (64, 64, 3) and networks.architecture_for(model) == "resnet64"
    assert (model.f_dim, model.key_dim, model.memory_size, model.z_dim) == (64, 512, 16384, 16)
    assert suite.image64_model_config(use_memory=False).use_memory is False
