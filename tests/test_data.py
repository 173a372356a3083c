"""Data loaders on tiny generated fixtures (no real data set needed)."""

import gzip
import struct

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import data


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


@pytest.fixture
def digits():
    return np.random.default_rng(0).integers(0, 256, size=(12, 28, 28), dtype=np.uint8)


def test_npz_keras_layout(tmp_path, digits):
    path = str(tmp_path / "d.npz")
    np.savez(path, x_train=digits, y_train=np.zeros(12), x_test=digits[:2])
    images = data.load_images("custom", path)
    assert images.shape == (12, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], digits)


def test_npz_float_images_are_rescaled(tmp_path):
    path = str(tmp_path / "f.npz")
    np.savez(path, images=np.full((3, 8, 8, 3), 0.5, np.float32))
    images = data.load_images("custom", path)
    assert images.shape == (3, 8, 8, 3) and np.all(images == 128)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_idx_file_and_folder(tmp_path, digits, name):
    path = str(tmp_path / name)
    write_idx(path, digits)
    np.testing.assert_array_equal(data.load_idx(path), digits)
    np.testing.assert_array_equal(data.load_images("custom", path)[..., 0], digits)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte"), np.zeros(12, np.uint8))
    np.testing.assert_array_equal(data.load_images("custom", str(tmp_path))[..., 0], digits)


def test_image_folder(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 10, 10, 3), dtype=np.uint8)
    (tmp_path / "sub").mkdir()
    for i, image in enumerate(images):
        folder = tmp_path / ("sub" if i % 2 else "")
        tf.io.write_file(str(folder / f"img{i}.png"), tf.io.encode_png(image))
    loaded = data.load_images("custom", str(tmp_path))
    assert loaded.shape == (5, 10, 10, 3)
    # Sorted by path: img0, img2, img4 at the top, then sub/img1, sub/img3.
    np.testing.assert_array_equal(loaded, images[[0, 2, 4, 1, 3]])


def test_bad_inputs_raise_data_error(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_images("custom", str(tmp_path / "missing.npz"))
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"not an idx file")
    with pytest.raises(data.DataError, match="IDX"):
        data.load_images("custom", str(bad))
    (tmp_path / "mixed").mkdir()
    tf.io.write_file(str(tmp_path / "mixed" / "a.png"), tf.io.encode_png(np.zeros((4, 4, 1), np.uint8)))
    tf.io.write_file(str(tmp_path / "mixed" / "b.png"), tf.io.encode_png(np.zeros((5, 5, 1), np.uint8)))
    with pytest.raises(data.DataError, match="differ in size"):
        data.load_images("custom", str(tmp_path / "mixed"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="no images"):
        data.load_images("custom", str(tmp_path / "empty"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(data.DataError, match="expected"):
        data.load_images("custom", str(tmp_path / "x.txt"))


def test_tfds_loading_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        images = data.load_images("fashion_mnist")
    assert images.shape == (6, 28, 28, 1) and images.dtype == np.uint8


def test_tfds_failure_explains_local_files(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve host")

    monkeypatch.setattr(tfds, "load", offline)
    monkeypatch.setattr(data, "_unreachable", lambda *args, **kwargs: None)  # the probe passes
    with pytest.raises(data.DataError) as err:
        data.load_images("fashion_mnist", data_dir=str(tmp_path))
    message = str(err.value)
    assert "Failed to resolve host" in message and "--data_path" in message and "\n" not in message


def test_tfds_offline_fails_at_the_probe_without_downloading(monkeypatch, tmp_path):
    """No network: one failed connection attempt, no call into TFDS's retrying downloader."""
    import socket

    import tensorflow_datasets as tfds

    attempts = []

    def no_network(address, timeout=None):
        attempts.append((address, timeout))
        raise socket.gaierror(-2, "Name or service not known")

    def must_not_download(*args, **kwargs):
        raise AssertionError("tfds.load was called although the host is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(tfds, "load", must_not_download)
    with pytest.raises(data.DataError) as err:
        data.load_images("fashion_mnist", data_dir=str(tmp_path))
    message = str(err.value)
    assert attempts == [(data.TFDS_DOWNLOAD_HOSTS["fashion_mnist"], 5.0)]
    assert "unreachable" in message and "--data_path" in message and "\n" not in message


def test_tfds_not_prepared_warning_is_held_back(monkeypatch, tmp_path, caplog):
    """Offline with no prepared copy, TFDS's absl warning about the missing variant folder
    would stand before the one-line error; at the default verbosity it does not."""
    import tensorflow_datasets as tfds
    from absl import logging as absl_logging

    def not_prepared(*args, **kwargs):
        absl_logging.warning("Variant folder %s has no dataset_info.json", tmp_path)
        raise FileNotFoundError("not prepared")

    monkeypatch.setattr(tfds, "load", not_prepared)
    monkeypatch.setattr(data, "_unreachable", lambda *args, **kwargs: "host unreachable")
    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.WARNING)  # what the entry points set
    try:
        with pytest.raises(data.DataError):
            data.load_images("fashion_mnist", data_dir=str(tmp_path))
        assert not [r for r in caplog.records if "dataset_info.json" in r.getMessage()]
        assert absl_logging.get_verbosity() == absl_logging.WARNING  # restored
        absl_logging.warning("a later warning")  # others still reach the user
        assert [r for r in caplog.records if r.getMessage() == "a later warning"]
    finally:
        absl_logging.set_verbosity(level)


def test_affine_mnist_is_reproducible_and_in_bounds(digits):
    a = data.make_affine_mnist(digits, seed=3)
    b = data.make_affine_mnist(digits, seed=3)
    c = data.make_affine_mnist(digits, seed=4)
    assert a.shape == (12, 40, 40, 1) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Rotation by at most 20 degrees keeps roughly the digit's mass (bilinear, corners lost).
    ratio = a.reshape(12, -1).sum(1) / digits.reshape(12, -1).sum(1)
    assert np.all((ratio > 0.75) & (ratio < 1.1))


def test_affine_mnist_zero_angle_is_a_pure_translation():
    digit = np.zeros((1, 28, 28), np.uint8)
    digit[0, 10:18, 12:16] = 200
    out = data.make_affine_mnist(digit, seed=0, max_angle=0)[0, ..., 0]
    ys, xs = np.nonzero(out)
    assert out.sum() == digit.sum()
    assert ys.max() - ys.min() == 7 and xs.max() - xs.min() == 3


def test_dataset_order_is_a_function_of_seed_and_step():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * 20
    full = [b.numpy().ravel() for b in data.make_dataset(images, 3, seed=7).take(9)]
    resumed = [b.numpy().ravel() for b in data.make_dataset(images, 3, seed=7, start_step=4).take(5)]
    for a, b in zip(full[4:], resumed):
        np.testing.assert_array_equal(a, b)
    # Each pass (3 batches of 3 out of 10) draws distinct images, and passes differ.
    first_pass = np.concatenate(full[:3])
    assert len(set(first_pass.tolist())) == 9
    assert not np.array_equal(np.concatenate(full[:3]), np.concatenate(full[3:6]))
    other_seed = [b.numpy().ravel() for b in data.make_dataset(images, 3, seed=8).take(3)]
    assert not np.array_equal(np.concatenate(other_seed), first_pass)


def test_scaling_matches_generator_output():
    images = np.array([0, 255], np.uint8).reshape(2, 1, 1, 1)
    sig = next(iter(data.make_dataset(images, 2, output_activation="sigmoid"))).numpy()
    tanh = next(iter(data.make_dataset(images, 2, output_activation="tanh"))).numpy()
    assert sorted(sig.ravel()) == [0.0, 1.0] and sorted(tanh.ravel()) == [-1.0, 1.0]


def test_too_few_images_for_a_batch():
    with pytest.raises(data.DataError, match="fewer than one batch"):
        data.make_dataset(np.zeros((3, 2, 2, 1), np.uint8), 4)


def test_local_copy_is_found_on_the_search_path(tmp_path, digits, monkeypatch):
    np.savez(tmp_path / "fashion_mnist.npz", x_train=digits)
    assert data.resolve_data_path("fashion_mnist", search_path=[str(tmp_path)]) == str(tmp_path / "fashion_mnist.npz")
    assert data.resolve_data_path("fashion_mnist", "given.npz", search_path=[str(tmp_path)]) == "given.npz"
    assert data.resolve_data_path("cifar10", search_path=[str(tmp_path)]) is None
    np.savez(tmp_path / "mnist.npz", x_train=digits)
    assert data.resolve_data_path("affine_mnist", search_path=[str(tmp_path)]) == str(tmp_path / "mnist.npz")
    assert data.resolve_data_path("custom", search_path=[str(tmp_path)]) is None
    assert data.default_search_path({"MEMORYGAN_DATA_DIR": str(tmp_path)})[0] == str(tmp_path)
    assert data.resolve_data_path("fashion_mnist") is None  # the library searches only what it is given
