"""Images from a trained run or from its SavedModel export, at a chosen control.

What tools/generate.py writes (a PNG folder, an .npz or a labelled grid) comes from here:
generate() from a model the harness built (rundir.RunDir.load_model), generate_from_export()
from `tf.saved_model.load` of an export (export.py's signatures). A control picks what the
generator reads besides z: MemoryGAN's memory slot, InfoGAN's categorical code,
MIC-GANs' mode (the model's ``controls``, an int in [0, size)).
"""

from __future__ import annotations

import os

import numpy as np

from memorygan_tf import configs, data

# The control each export endpoint takes, by the control's name.
EXPORT_ENDPOINTS = {"slot": "generate_from_slot", "code": "generate_from_code", "mode": "generate_from_mode"}


def parse_control(text):
    """'slot=3' or 'slot=3,17,42' -> ('slot', [3, 17, 42]); None -> (None, [None])."""
    if not text:
        return None, [None]
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise configs.ConfigError("control", f"expected NAME=VALUE[,VALUE...] (e.g. slot=12), got {text!r}")
    try:
        parsed = [int(v) for v in values.split(",")]
    except ValueError:
        raise configs.ConfigError("control", f"values must be integers, got {values!r}") from None
    return name, parsed


def check_control(name, values, controls, model_name):
    """One-line refusal of a control the model does not have, or a value out of its range."""
    if name is None:
        return
    usable = {n: c for n, c in controls.items() if c.dtype == "int32"}
    if name not in usable:
        offered = ", ".join(usable) or "none"
        raise configs.ConfigError("control", f"{model_name} has no control {name!r} (its controls: {offered})")
    for value in values:
        if not 0 <= value < usable[name].size:
            raise configs.ConfigError("control", f"{name} must lie in [0, {usable[name].size}), got {value}")


def generate(model, n, seed=configs.EVAL_SEED, control=None, value=None):
    """n images in [0, 1] [n, H, W, C] from a built model: from the prior (the images an
    evaluation with the same seed scores) or, with a control, at `value` of it."""
    import tensorflow as tf

    from memorygan_tf import evaluation

    if control is None:
        return evaluation.generate_images(model, n, seed=seed)
    z = model.sample_noise(n, tf.constant([seed, 0], tf.int64))
    latent = model.latent_from(z, **{control: tf.fill([n], tf.constant(value, tf.int32))})
    return data.to_unit_range(model.generator(latent, training=False).numpy(), model.config.output_activation)


def generate_from_export(loaded, n, seed=configs.EVAL_SEED, control=None, value=None, z_distribution=None):
    """n images in [0, 1] from a loaded export: z from its `noise` endpoint (or, for an
    export without one, `z_distribution`), then `sample(z, seed)` or the control's endpoint."""
    import tensorflow as tf

    seed_tensor = tf.constant([seed, 0], tf.int64)
    if hasattr(loaded, "noise"):
        z = loaded.noise(tf.constant(n, tf.int32), seed_tensor)["z"]
    else:
        if z_distribution is None:
            raise configs.ConfigError("z_distribution", "this export has no noise endpoint (it predates it): "
                                      "pass the run's --z_distribution (uniform or normal)")
        width = loaded.serve.structured_input_signature[0][0].shape[-1]
        z = (tf.random.stateless_uniform([n, width], seed_tensor, -1.0, 1.0) if z_distribution == "uniform"
             else tf.random.stateless_normal([n, width], seed_tensor))
    if control is None:
        return loaded.sample(z, seed_tensor)["images"].numpy()
    endpoint = EXPORT_ENDPOINTS.get(control)
    if endpoint is None or not hasattr(loaded, endpoint):
        offered = ", ".join(c for c, e in EXPORT_ENDPOINTS.items() if hasattr(loaded, e)) or "none"
        raise configs.ConfigError("control", f"the export has no control {control!r} (its controls: {offered})")
    values = tf.fill([n], tf.constant(value, tf.int32))
    if control == "code":  # InfoGAN: the continuous codes at 0
        width = getattr(loaded, endpoint).structured_input_signature[0][2].shape[-1]
        return getattr(loaded, endpoint)(z, values, tf.zeros([n, width]))["images"].numpy()
    return getattr(loaded, endpoint)(z, values)["images"].numpy()


def check_output(out, overwrite):
    """One-line refusal of an output that exists (unless `overwrite`) or cannot be written:
    an .npz file, or a folder for PNGs that must be empty or hold only PNGs this tool wrote."""
    folder = os.path.dirname(os.path.abspath(out)) if out.endswith(".npz") else os.path.abspath(out)
    parent = os.path.dirname(folder) if not out.endswith(".npz") else folder
    if not os.path.isdir(parent):
        raise configs.ConfigError("out", f"the folder {parent} does not exist")
    if out.endswith(".npz"):
        if os.path.isdir(out):
            raise configs.ConfigError("out", f"{out} is a folder")
        if os.path.exists(out) and not overwrite:
            raise configs.ConfigError("out", f"{out} exists; pass --overwrite to replace it")
        return
    if os.path.isfile(out):
        raise configs.ConfigError("out", f"{out} is a file; give a folder for PNGs or a name ending in .npz")
    if os.path.isdir(out) and os.listdir(out):
        others = [f for f in os.listdir(out) if not f.endswith(".png")]
        if others:
            raise configs.ConfigError("out", f"{out} holds files that are not PNGs ({', '.join(sorted(others)[:3])}); "
                                      "choose an empty folder")
        if not overwrite:
            raise configs.ConfigError("out", f"{out} is not empty; pass --overwrite to replace its PNGs")


def write_images(images, out, labels=None, control=None):
    """Writes images in [0, 1]: an .npz (`images` float32 as generated, so a score of the file
    equals the run's; `labels` the control values if any) or a folder of PNGs (uint8;
    names carry the control value). Returns the paths written (one for .npz)."""
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    if out.endswith(".npz"):
        arrays = dict(images=images)
        if labels is not None:
            arrays[control or "labels"] = np.asarray(labels)
        partial = f"{out}.{os.getpid()}.partial.npz"
        np.savez(partial, **arrays)
        os.replace(partial, out)
        return [out]
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old.endswith(".png"):
            os.remove(os.path.join(out, old))
    paths = []
    for i, image in enumerate(images):
        tag = f"_{control}{labels[i]}" if labels is not None else ""
        path = os.path.join(out, f"{i:06d}{tag}.png")
        tf.io.write_file(path, tf.io.encode_png(tf.cast(np.clip(image, 0, 1) * 255.0 + 0.5, tf.uint8)))
        paths.append(path)
    return paths


def grid_figure(rows, row_labels, title, columns=8):
    """A matplotlib figure of image rows (each [k, H, W, C] in [0, 1]), each row labelled:
    visualize.image_figure of the rows tiled (the first `columns` images of each, blank
    cells white)."""
    from memorygan_tf import visualize

    columns = min(columns, max(len(r) for r in rows))
    cells = []
    for images in rows:
        images = np.asarray(images, np.float32)[:columns]
        cells.append(np.concatenate([images, np.ones((columns - len(images),) + images.shape[1:], np.float32)]))
    return visualize.image_figure(visualize.tile(np.concatenate(cells), columns), title, row_labels=list(row_labels))
