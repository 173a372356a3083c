"""Training images: TFDS data sets, affine-MNIST, and local npz / IDX / image folders.

Everything is loaded into memory as uint8 [n, H, W, C] (the largest supported
set, CIFAR10, is 150 MB) and streamed by :func:`make_dataset`, whose order is a
pure function of (seed, step): a run resumed at step s sees exactly the batches
an uninterrupted run sees from step s on.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import socket
import struct
import zipfile
import zlib

import numpy as np
import tensorflow as tf

TFDS_NAMES = {"fashion_mnist": "fashion_mnist", "mnist": "mnist", "cifar10": "cifar10"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class DataError(RuntimeError):
    """A user-facing data problem (missing file, wrong format, no download)."""


# ---------------------------------------------------------------- local files
def load_npz(path):
    """Images from an .npz: `x_train` (keras.datasets layout), else `images`/`x`, else the
    first array with at least 3 dimensions."""
    try:
        with np.load(path) as arrays:
            for key in ("x_train", "images", "x"):
                if key in arrays:
                    return arrays[key]
            for key in arrays.files:
                if arrays[key].ndim >= 3:
                    return arrays[key]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        reason = str(err).strip().splitlines()[0][:150] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read {path} as .npz (empty, truncated or corrupted?): {reason}") from None
    raise DataError(f"{path} has no image array (expected x_train, images or x)")


def load_idx(path):
    """An IDX file (`*-ubyte`, optionally gzipped) as a numpy array (big-endian header)."""
    opener = gzip.open if path.endswith(".gz") else open
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        reason = str(err).strip() or type(err).__name__
        raise DataError(f"cannot read IDX file {path} (truncated or corrupted?): {reason}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    if not 1 <= ndim <= 4 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: the IDX header promises {ndim} dimensions (1 to 4 expected, "
                        f"{len(raw)} bytes in the file); not an image or label file")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: header promises shape {shape} but holds {data.size} values")
    return data.reshape(shape)


def _find_idx_images(folder):
    names = sorted(os.listdir(folder))
    for name in names:
        if "train-images" in name and "-ubyte" in name:
            return os.path.join(folder, name)
    for name in names:
        if "images" in name and "-ubyte" in name:
            return os.path.join(folder, name)
    return None


def load_image_folder(folder, transform=None):
    """Every image file below `folder` (any depth), decoded; all must share one size
    after `transform` (e.g. :func:`center_crop_and_resize`), applied to each image as it
    is decoded, so that a folder of large photos never sits in memory at full size."""
    paths = sorted(
        os.path.join(root, name)
        for root, _, files in os.walk(folder)
        for name in files
        if name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {folder}")
    images = []
    for path in paths:
        try:
            image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False).numpy()
        except tf.errors.OpError:
            raise DataError(f"cannot decode {path}: not a readable {', '.join(IMAGE_SUFFIXES)} image") from None
        if transform is not None:
            image = transform(image, path)
        if images and image.shape[:2] != images[0].shape[:2]:
            raise DataError(f"images differ in size: {paths[0]} is {images[0].shape[1]}x{images[0].shape[0]}, "
                            f"{path} is {image.shape[1]}x{image.shape[0]} (--image_size resizes them all)")
        if images and image.shape[2] != images[0].shape[2]:
            raise DataError(f"images differ in channels: {paths[0]} has {images[0].shape[2]}, "
                            f"{path} has {image.shape[2]} (mix of grey and colour images?)")
        images.append(image)
    return np.stack(images)


def load_local(path, transform=None):
    """Images from a local .npz, IDX file, folder of IDX files, or image folder
    (`transform`: applied to each image of an image folder as it is decoded)."""
    if not os.path.exists(path):
        raise DataError(f"--data_path {path} does not exist")
    if os.path.isdir(path):
        idx = _find_idx_images(path)
        return load_idx(idx) if idx else load_image_folder(path, transform)
    if path.endswith(".npz"):
        return load_npz(path)
    if "-ubyte" in os.path.basename(path) or path.endswith((".idx", ".idx.gz")):
        return load_idx(path)
    raise DataError(f"--data_path {path}: expected an .npz, an IDX file (*-ubyte[.gz]) or a folder")


# Float images whose brightest pixel lies in (1, this) are refused: in [0, 1] they would
# not fit, in [0, 255] they would train as near-black images (a careless [0, 2] scaling).
AMBIGUOUS_FLOAT_MAX = 25.5  # 10 % of 255


def as_nhwc_uint8(images, source):
    """Checks and converts loaded images to uint8 [n, H, W, C].

    Pixel ranges are read, not guessed: uint8 / integers in [0, 255] and floats in
    [0, 1] (scaled by 255) or [0, 255] are taken as they are; floats in [-1, 1] with
    negative values are rescaled, with a warning. Anything else (NaN or Inf pixels,
    values outside those ranges, integer images holding only 0 and 1, floats whose
    maximum lies between 1 and AMBIGUOUS_FLOAT_MAX) is refused.
    """
    try:
        images = np.asarray(images)
    except ValueError as err:
        raise DataError(f"{source}: not an image array ({err})") from None
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise DataError(f"{source}: expected images [n, H, W(, C)], got shape {images.shape}")
    if len(images) == 0 or images.size == 0:
        raise DataError(f"{source}: no images")
    if images.shape[-1] == 4:
        images = images[..., :3]
    if images.dtype == np.uint8:
        low, high = int(images.min()), int(images.max())
    elif np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating):
        if np.issubdtype(images.dtype, np.floating) and not np.all(np.isfinite(images)):
            raise DataError(f"{source}: {int(np.sum(~np.isfinite(images)))} pixels are NaN or Inf")
        low, high = float(images.min()), float(images.max())
    else:
        raise DataError(f"{source}: pixels of type {images.dtype} are not numbers")
    integer = not np.issubdtype(images.dtype, np.floating)
    if not integer and low >= 0 and 1.0 < high < AMBIGUOUS_FLOAT_MAX:
        raise DataError(f"{source}: float pixels span [{low:g}, {high:g}]: neither [0, 1] nor [0, 255] "
                        f"(as [0, 255] the brightest pixel would be {high / 255:.1%} grey). "
                        f"Scale them to [0, 1] or [0, 255] first")
    if integer and high <= 1 and low >= 0:
        raise DataError(f"{source}: integer pixels only take the values {low}..{high}; binary images? "
                        f"Store them as 0/255 (uint8) or as floats in [0, 1]")
    if low < 0 and low >= -1.0 and high <= 1.0 and not integer:
        logging.getLogger(__name__).warning("%s: float pixels in [-1, 1]; rescaled to [0, 255]", source)
        images = (images.astype(np.float64) + 1.0) * 127.5
    elif not integer and low >= 0 and high <= 1.0:
        images = images * 255.0
    elif low < 0 or high > 255:
        raise DataError(f"{source}: pixel values span [{low:g}, {high:g}]; expected uint8 [0, 255], "
                        f"floats in [0, 1], [0, 255] or [-1, 1]")
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return images


# ------------------------------------------------------------- crop / resize
RESIZE_CHUNK = 1024  # images resized per TensorFlow call (bounds the float32 copy)


def center_crop_box(height, width, image_size=0, center_crop=0):
    """(top, left, side) of the centred square cut from a height x width image, or None
    for no cut. `center_crop` > 0: that side; else, with `image_size` > 0, the largest
    centred square, as the release's utils.center_crop (crop = min(h, w), offsets
    round((h - crop) / 2) with Python 2's rounding: an odd margin leaves its extra pixel
    above / left of the square). Raises DataError if the square does not fit."""
    if center_crop > min(height, width):
        raise DataError(f"--center_crop: a {center_crop}x{center_crop} square does not fit in "
                        f"{width}x{height} images")
    side = center_crop or (min(height, width) if image_size else 0)
    if not side or (side == height == width):
        return None
    return (height - side + 1) // 2, (width - side + 1) // 2, side


def center_crop_and_resize(images, image_size=0, center_crop=0):
    """uint8 images [n, H, W, C] (or one [H, W, C]) cut to the centred square of
    :func:`center_crop_box` and resized to image_size x image_size (bilinear with
    antialiasing, so downscaling averages every source pixel, rounded to uint8).
    image_size 0 keeps the cut's size."""
    images = np.asarray(images)
    single = images.ndim == 3
    if single:
        images = images[np.newaxis]
    height, width = images.shape[1:3]
    box = center_crop_box(height, width, image_size, center_crop)
    if box is not None:
        top, left, side = box
        images = images[:, top:top + side, left:left + side]
    if image_size and images.shape[1:3] != (image_size, image_size):
        resized = [tf.image.resize(images[i:i + RESIZE_CHUNK], (image_size, image_size), method="bilinear",
                                   antialias=True).numpy() for i in range(0, len(images), RESIZE_CHUNK)]
        images = np.clip(np.rint(np.concatenate(resized)), 0, 255).astype(np.uint8)
    return images[0] if single else images


def _resizer(image_size, center_crop):
    """The per-image transform of load_image_folder for these flags (None: none)."""
    if not (image_size or center_crop):
        return None

    def transform(image, path):  # decode_image gives uint8 (16-bit PNGs too)
        try:
            return center_crop_and_resize(image, image_size, center_crop)
        except DataError as err:
            raise DataError(f"{err} ({path})") from None

    return transform


# ---------------------------------------------------------------------- TFDS
# Where TFDS downloads each data set from (its builders' URLs). Probed with one short
# TCP connection before a download, so an offline machine fails in seconds instead of
# minutes of TFDS's download retries.
TFDS_DOWNLOAD_HOSTS = {
    "mnist": ("storage.googleapis.com", 443),
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
    "cifar10": ("www.cs.toronto.edu", 443),
}


def _unreachable(host, port, timeout):
    """None if a TCP connection to host:port opens within `timeout` s, else the reason."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        return f"{host} is unreachable: {err.strerror or type(err).__name__}"
    return None


def _tfds_error(name, reason):
    return DataError(
        f"could not load {name!r} through TensorFlow Datasets ({reason}). "
        f"Without internet access, pass local files instead, e.g. "
        f"--data_path=path/to/{name}.npz (keras.datasets layout: x_train ...), "
        f"a folder of IDX files (train-images-idx3-ubyte[.gz]) or a folder of images."
    )


@contextlib.contextmanager
def _absl_errors_only():
    """absl logging (TFDS's) at ERROR inside, where it was at WARNING or quieter."""
    from absl import logging as absl_logging

    level = absl_logging.get_verbosity()
    if level <= absl_logging.WARNING:
        absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(level)


def load_tfds(name, data_dir=None, probe_timeout=5.0):
    """The train split of a TFDS data set as uint8 [n, H, W, C].

    A data set not yet prepared in `data_dir` is downloaded; its download host is
    probed first (`probe_timeout` seconds) so that no network fails fast.
    """
    import tensorflow_datasets as tfds

    def load(download):
        return tfds.load(name, split="train", data_dir=data_dir, download=download)

    try:
        # Already prepared in data_dir? Where it is not, TFDS warns ("Variant folder ... has
        # no dataset_info.json") before failing: an expected failure, so at the default
        # verbosity its warning is held back (-v 1 shows it).
        with _absl_errors_only():
            data = load(download=False)
    except Exception:  # noqa: BLE001 - not prepared (or unreadable): try a download below
        data = None
    if data is None:
        reason = _unreachable(*TFDS_DOWNLOAD_HOSTS[name], timeout=probe_timeout) \
            if name in TFDS_DOWNLOAD_HOSTS else None
        if reason:
            raise _tfds_error(name, reason)
        try:
            data = load(download=True)
        except Exception as err:  # noqa: BLE001 - any download / prepare failure is reported the same way
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise _tfds_error(name, reason) from None
    # Batched iteration (batch_size=-1 aborts on TFDS's mock data of unknown length).
    batches = [batch["image"] for batch in tfds.as_numpy(data.batch(4096))]
    return np.concatenate(batches)


# -------------------------------------------------------------- affine-MNIST
def make_affine_mnist(mnist, seed=0, size=40, max_angle=20, max_offset=11):
    """affine-MNIST as in the release: rotate each digit by a uniform integer angle in
    [-max_angle, max_angle] degrees (bilinear), paste it at a uniform offset in
    [0, max_offset]^2 of a black size x size canvas. Seeded and reproducible."""
    mnist = as_nhwc_uint8(mnist, "mnist")[..., 0].astype(np.float32)
    n, h, w = mnist.shape
    rng = np.random.default_rng(seed)
    angles = np.deg2rad(rng.integers(-max_angle, max_angle + 1, size=n)).astype(np.float32)
    offsets = rng.integers(0, max_offset + 1, size=(n, 2))
    out = np.zeros((n, size, size), np.uint8)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    for start in range(0, n, 4096):
        sl = slice(start, min(n, start + 4096))
        cos, sin = np.cos(angles[sl])[:, None, None], np.sin(angles[sl])[:, None, None]
        # Inverse map: output pixel (y, x) samples the source at R^-1 (p - c) + c.
        sy = cos * (ys - cy) - sin * (xs - cx) + cy
        sx = sin * (ys - cy) + cos * (xs - cx) + cx
        rotated = _bilinear(mnist[sl], sy, sx)
        for i, image in enumerate(rotated):
            oy, ox = offsets[start + i]
            out[start + i, oy:oy + h, ox:ox + w] = image
    return out[..., np.newaxis]


def _bilinear(images, sy, sx):
    n, h, w = images.shape
    y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    fy, fx = sy - y0, sx - x0
    batch = np.arange(n)[:, None, None]

    def at(y, x):
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        return np.where(inside, images[batch, np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)], 0.0)

    value = (at(y0, x0) * (1 - fy) * (1 - fx) + at(y0, x0 + 1) * (1 - fy) * fx
             + at(y0 + 1, x0) * fy * (1 - fx) + at(y0 + 1, x0 + 1) * fy * fx)
    return np.clip(np.rint(value), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ entry
def default_search_path(environ):
    """The command line's folders for <dataset>.npz before downloading: $MEMORYGAN_DATA_DIR
    (from the given environment mapping), ./data, ../shared/data (where this project's
    verified copies live beside a checkout). The library itself searches only the path
    it is given."""
    paths = [environ.get("MEMORYGAN_DATA_DIR"), "data", os.path.join("..", "shared", "data")]
    return [p for p in paths if p]


def find_local_copy(dataset, search_path=()):
    """The first <dataset>.npz on the search path, or None."""
    for folder in search_path:
        candidate = os.path.join(folder, f"{dataset}.npz")
        if os.path.isfile(candidate):
            return candidate
    return None


def resolve_data_path(dataset, data_path=None, search_path=()):
    """--data_path if given, else a local copy on the search path, else None (use TFDS)."""
    if data_path:
        return data_path
    source = "mnist" if dataset == "affine_mnist" else dataset
    return find_local_copy(source, search_path) if source in TFDS_NAMES else None


def load_images(dataset, data_path=None, data_dir=None, seed=0, image_size=0, center_crop=0):
    """uint8 [n, H, W, C] training images for a data set name and optional local path,
    cut and resized by `center_crop` / `image_size` (--center_crop, --image_size; 0: off)
    with :func:`center_crop_and_resize` (image folders: each image as it is decoded)."""
    if dataset == "affine_mnist":
        mnist = load_local(data_path) if data_path else load_tfds("mnist", data_dir)
        mnist = as_nhwc_uint8(mnist, data_path or "mnist")
        if mnist.shape[1:3] == (40, 40):  # already affine-MNIST
            return center_crop_and_resize(mnist, image_size, center_crop)
        if mnist.shape[1:3] != (28, 28):
            raise DataError(f"affine_mnist is built from 28x28 MNIST digits, got {mnist.shape[1:3]}")
        return center_crop_and_resize(make_affine_mnist(mnist, seed=seed), image_size, center_crop)
    if data_path and os.path.isdir(data_path) and not _find_idx_images(data_path):  # an image folder
        return as_nhwc_uint8(load_image_folder(data_path, _resizer(image_size, center_crop)), data_path)
    if data_path:
        images = as_nhwc_uint8(load_local(data_path), data_path)
    elif dataset not in TFDS_NAMES:
        raise DataError(f"--dataset={dataset} needs --data_path")
    else:
        images = as_nhwc_uint8(load_tfds(TFDS_NAMES[dataset], data_dir), dataset)
    return center_crop_and_resize(images, image_size, center_crop)


def scale_images(images, output_activation):
    """uint8 -> float32 in the generator's output range ([0, 1] sigmoid, [-1, 1] tanh)."""
    images = tf.cast(images, tf.float32) / 255.0
    return images * 2.0 - 1.0 if output_activation == "tanh" else images


def to_unit_range(images, output_activation):
    """The inverse of :func:`scale_images` up to the /255: generator outputs -> [0, 1]
    (tensors stay tensors, arrays become float32 arrays)."""
    if not tf.is_tensor(images):
        images = np.asarray(images, np.float32)
    return (images + 1.0) / 2.0 if output_activation == "tanh" else images


def group_order(batch_size, groups, replicas):
    """Row order of a step's `groups` batches so that each replica's contiguous share
    holds its share of batch 0, then of batch 1, ...: split into `groups` slices on
    every replica, slice g of all replicas is exactly batch g of a one-device run."""
    local = batch_size // replicas
    order = [g * batch_size + r * local + i for r in range(replicas) for g in range(groups) for i in range(local)]
    return np.asarray(order, np.int64)


def too_few_images(n, batch_size, groups=1):
    """The one-line DataError for data smaller than one step's `groups` batches."""
    return DataError(f"{n} images are fewer than one batch of {batch_size * groups}"
                     + (f" ({groups} discriminator steps of {batch_size})" if groups > 1 else ""))


# --use_augmentation, as the release's ops.preprocess_image applies it to the real batch
# (pixels in [0, 1]): tf.image.random_brightness(max_delta=16/255), then
# tf.image.random_contrast(0.8, 1.2), then a clip to [0, 1]. Both draw one scalar for the
# whole batch (the release feeds [64, H, W, C]), so every image of a batch gets the
# same delta and factor; contrast scales about each image's own per-channel mean.
AUGMENT_MAX_DELTA = 16.0 / 255.0
AUGMENT_CONTRAST = (0.8, 1.2)
_AUGMENT_SALT = 0x61756721  # keeps the draws apart from the shuffle's stateless seeds


def augmentation_draws(seed, step, groups=1):
    """(delta [groups], factor [groups]) of the stream element at `step`: one brightness
    delta in [-AUGMENT_MAX_DELTA, AUGMENT_MAX_DELTA) and one contrast factor in
    [AUGMENT_CONTRAST) per batch, a pure function of (seed, step) like the order."""
    u = tf.random.stateless_uniform([2, groups], seed=tf.stack([tf.cast(step, tf.int64),
                                                                tf.constant(seed + _AUGMENT_SALT, tf.int64)]))
    low, high = AUGMENT_CONTRAST
    return (2.0 * u[0] - 1.0) * AUGMENT_MAX_DELTA, low + (high - low) * u[1]


def augment(images, delta, factor):
    """Images in [0, 1] [n, H, W, C] -> brightness (+ delta), then contrast ((x - mean) *
    factor + mean, the mean over each image's pixels per channel, as tf.image.adjust_contrast),
    then clipped to [0, 1]; `delta` and `factor` are [n] (one value per image)."""
    x = images + tf.reshape(delta, (-1, 1, 1, 1))
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    x = (x - mean) * tf.reshape(factor, (-1, 1, 1, 1)) + mean
    return tf.clip_by_value(x, 0.0, 1.0)


def make_dataset(images, batch_size, seed=0, start_step=0, output_activation="sigmoid", groups=1, replicas=1,
                 with_index=False, augmentation=False):
    """An endless tf.data stream of global batches, reshuffled every pass over the data.

    The permutation of pass e is stateless_shuffle(seed, e); batches that do not fill
    up are dropped. `start_step` skips the first batches cheaply (indices only), so a
    resumed run continues the exact sequence. With `groups` > 1 (--d_steps) every
    element holds `groups` consecutive batches, ordered for `replicas` by group_order.
    `with_index`: elements are (images, their indices in `images`) (MIC-GANs' labels).
    `augmentation` (--use_augmentation): each of an element's `groups` batches gets the
    brightness and contrast of :func:`augmentation_draws` (seed, step).
    """
    n = len(images)
    if n < batch_size * groups:
        raise too_few_images(n, batch_size, groups)
    order_in_step = group_order(batch_size, groups, replicas) if groups > 1 and replicas > 1 else None
    # Which of the step's batches each row of an element belongs to (augmentation draws per batch).
    row_batch = tf.constant((order_in_step if order_in_step is not None
                             else np.arange(batch_size * groups)) // batch_size, tf.int64)
    batch_size *= groups
    per_pass = n // batch_size
    images = tf.constant(images)

    def one_pass(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)
        if order_in_step is not None:
            batches = batches.map(lambda idx: tf.gather(idx, order_in_step))
        return batches

    first_pass = start_step // per_pass
    ds = tf.data.Dataset.range(first_pass, 2**62).flat_map(one_pass)
    ds = ds.skip(start_step - first_pass * per_pass)
    ds = tf.data.Dataset.zip((tf.data.Dataset.range(start_step, 2**62), ds))  # (step, indices)

    def load(step, idx):
        if augmentation:
            delta, factor = augmentation_draws(seed, step, groups)
            batch = augment(tf.cast(tf.gather(images, idx), tf.float32) / 255.0,
                            tf.gather(delta, row_batch), tf.gather(factor, row_batch))
            batch = batch * 2.0 - 1.0 if output_activation == "tanh" else batch
        else:
            batch = scale_images(tf.gather(images, idx), output_activation)
        return (batch, idx) if with_index else batch

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    # In-memory data: multi-worker runs shard by element (each worker its share of a batch).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


# ------------------------------------------------------- labelled splits (evaluation)
def load_labelled(dataset, data_path=None, data_dir=None, seed=0):
    """(x_train, y_train, x_test, y_test) for training and scoring the evaluation classifier.

    From a local .npz in the keras.datasets layout (`x_train`, `y_train`, `x_test`,
    `y_test`) or from TFDS. affine-MNIST is built from MNIST's splits (train with
    `seed`, test with `seed + 1`), as the training images are.
    """
    source = "mnist" if dataset == "affine_mnist" else dataset
    if data_path:
        if not data_path.endswith(".npz"):
            raise DataError(f"{data_path}: labelled splits need an .npz with x_train, y_train, x_test, y_test")
        try:
            with np.load(data_path) as arrays:
                missing = {"x_train", "y_train", "x_test", "y_test"} - set(arrays.files)
                if missing:
                    raise DataError(f"{data_path} lacks {', '.join(sorted(missing))} (needed for evaluation)")
                splits = [arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
            reason = str(err).strip().splitlines()[0][:150] if str(err).strip() else type(err).__name__
            raise DataError(f"cannot read {data_path} as .npz (empty, truncated or corrupted?): {reason}") from None
    elif source in TFDS_NAMES:
        splits = _tfds_labelled(TFDS_NAMES[source], data_dir)
    else:
        raise DataError(f"--dataset={dataset} needs --data_path (an .npz with labels) for evaluation")
    x_train, y_train, x_test, y_test = splits
    x_train, x_test = as_nhwc_uint8(x_train, "x_train"), as_nhwc_uint8(x_test, "x_test")
    y_train, y_test = check_labels(y_train, len(x_train), "train"), check_labels(y_test, len(x_test), "test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"x_train images are {x_train.shape[1:]}, x_test images {x_test.shape[1:]}")
    if dataset == "affine_mnist":
        x_train, x_test = make_affine_mnist(x_train, seed=seed), make_affine_mnist(x_test, seed=seed + 1)
    classes = int(y_train.max()) + 1
    absent = sorted(set(range(classes)) - set(np.unique(y_train).tolist()))
    if absent:
        raise DataError(f"y_train holds labels {int(y_train.min())}..{classes - 1} but not "
                        f"{_ranges(absent)}: labels must be the classes 0..C-1, each present in y_train")
    if int(y_test.max()) >= classes:
        raise DataError(f"y_test holds label {int(y_test.max())}, y_train only 0..{classes - 1}")
    return x_train, y_train, x_test, y_test


def check_labels(labels, n, split):
    """Labels of a split as int64 [n]: non-negative integers, one per image."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"y_{split} has shape {labels.shape}, expected one label per x_{split} image ({n})")
    if n == 0:
        raise DataError(f"x_{split}: no images")
    if not (np.issubdtype(labels.dtype, np.integer) or (
            np.issubdtype(labels.dtype, np.floating) and np.all(np.isfinite(labels))
            and np.all(labels == np.round(labels)))):
        raise DataError(f"y_{split} must hold integer class labels, got {labels.dtype} values")
    if labels.min() < 0:
        raise DataError(f"y_{split} holds the negative label {int(labels.min())}; labels must be 0..C-1")
    return labels.astype(np.int64)


def _ranges(values):
    """'0..49, 52' for sorted integers."""
    parts, start = [], values[0]
    for previous, value in zip(values, values[1:] + [None]):
        if value != previous + 1:
            parts.append(f"{start}" if start == previous else f"{start}..{previous}")
            start = value
    return ", ".join(parts)


def _tfds_labelled(name, data_dir):
    import tensorflow_datasets as tfds

    load_tfds(name, data_dir)  # prepares (or fails with the one-line offline error)
    out = []
    for split in ("train", "test"):
        data = tfds.load(name, split=split, data_dir=data_dir, download=False)
        batches = list(tfds.as_numpy(data.batch(4096)))
        out += [np.concatenate([b["image"] for b in batches]), np.concatenate([b["label"] for b in batches])]
    return out
