"""The figures every GAN offers (image grids, samples, z interpolation, clusters) and the
study's learning curves; a model's own figures live in its package (MemoryGAN's Figs.
1, 3 and 5 in models/memorygan/figures.py, InfoGAN's codes in models/infogan/figures.py).

Image grids are plain arrays ([rows * H, cols * W, C] in [0, 1], written as PNG with
TensorFlow); the charts use matplotlib (Agg, no display needed). Every function takes
a trained model (see rundir.load_trained_model) and returns what it draws, so the
command line (tools/visualize.py) only chooses and saves.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from memorygan_tf import data

GRID = 8


# ---------------------------------------------------------------- image grids
def tile(images, columns=None, background=1.0):
    """[n, H, W, C] in [0, 1] -> [rows * H, columns * W, C] (rows filled in order; by
    default a square-ish grid). Empty cells get `background` (white for figures)."""
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    grid = np.full((rows * h, columns * w, c), background, np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    return grid


def save_png(grid, path, scale=1):
    """Writes a [H, W, C] grid in [0, 1] as PNG (nearest-neighbour upscaled by `scale`)."""
    grid = np.asarray(grid, np.float32)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    png = tf.io.encode_png(tf.cast(np.clip(grid, 0.0, 1.0) * 255.0 + 0.5, tf.uint8))
    tf.io.write_file(path, png)


def images_of(model, latent):
    """The generator's images of `latent` in [0, 1]."""
    return data.to_unit_range(model.generator(latent, training=False).numpy(), model.config.output_activation)


def noise(model, n, seed):
    """n noise vectors z of the model's prior (GAN.sample_noise), reproducible from `seed`
    (the figures' z)."""
    return model.sample_noise(n, tf.constant([seed, 7], tf.int64))


def bilinear(corners, size=GRID):
    """size x size points between 4 corner vectors [4, d] (top-left, top-right,
    bottom-left, bottom-right), row-major: [size * size, d]."""
    corners = np.asarray(corners, np.float64)
    t = np.linspace(0.0, 1.0, size)
    out = []
    for a in t:
        left = (1 - a) * corners[0] + a * corners[2]
        right = (1 - a) * corners[1] + a * corners[3]
        for b in t:
            out.append((1 - b) * left + b * right)
    return np.stack(out)


def interpolate_z(model, seed=0, cluster=None):
    """Fig. 6: 8x8 bilinear interpolation of z between four random corners, with the
    model's cluster control (``cluster_control``: MemoryGAN's slot, InfoGAN's code,
    MIC-GANs' mode) fixed to `cluster`, by default the heaviest cluster (never one of
    weight 0), and the other controls at their defaults; over z alone for a model
    without one."""
    z = tf.constant(bilinear(noise(model, 4, seed).numpy()), tf.float32)
    control = model.cluster_control if model.clusters else None
    if control not in model.controls:  # the DCGAN, MemoryGAN's "- MCGN"
        return tile(images_of(model, model.latent_from(z)), GRID)
    size = model.controls[control].size
    cluster = int(np.argmax(model.cluster_weights())) if cluster is None else int(cluster)
    if not 0 <= cluster < size:
        raise ValueError(f"{control} {cluster} is outside the run's {size} {control}s")
    return tile(images_of(model, model.latent_from(z, **{control: tf.fill([GRID * GRID], cluster)})), GRID)


def clusters_grid(model, rows=10, columns=GRID, seed=0):
    """Samples per cluster (MIC-GANs' Fig. 1): one row per cluster, the `rows` heaviest
    by the model's cluster weights (MemoryGAN: slots by h v; InfoGAN: code values;
    MIC-GANs: modes by pi), clusters of weight 0 (pruned modes) left out, the same
    `columns` noise vectors in every row. Returns (grid, the clusters shown)."""
    from memorygan_tf import evaluation

    if not model.clusters:
        raise ValueError(f"clusters needs a model that clusters images (this run's model is {type(model).__name__})")
    weights = np.asarray(model.cluster_weights())
    shown = evaluation.heaviest_clusters(weights, min(rows, max(1, int(np.sum(weights > 0)))))
    z = tf.tile(noise(model, columns, seed), [len(shown), 1])
    ids = tf.constant(np.repeat(shown, columns).astype(np.int32))
    return tile(images_of(model, model.latent_from(z, **{model.cluster_control: ids})), columns), shown


def samples(model, n, seed=0):
    """n images from the prior (generate), reproducible from `seed`: [n, H, W, C] in [0, 1]."""
    from memorygan_tf import evaluation

    return evaluation.generate_images(model, n, seed=seed)


# Panels of learning_curves_figure: (result key, axis label); a panel no run has is left out.
CURVE_PANELS = (("fid", "FID (lower is better)"), ("inception_score", "IS"), ("recall", "recall"),
                ("distinct_real_keys", "distinct real keys"), ("effective_slots", "effective slots"),
                ("cluster_purity", "test purity (argmax slot / code / mode)"))


def curve_points(per_seed, key, steps_per_epoch):
    """(epochs, seed-mean values, {seed: (epochs, values)}) of one run's `key`.

    `per_seed` is {seed: {step: result}} (study.collect); the mean is taken at the epochs
    every seed reached, so a seed that is behind does not bend the curve."""
    seeds = {}
    for seed, by_step in per_seed.items():
        points = sorted((int(step) / steps_per_epoch, r[key]) for step, r in by_step.items() if key in r)
        if points:
            seeds[seed] = tuple(np.array(v, dtype=np.float64) for v in zip(*points))
    if not seeds:
        return np.zeros(0), np.zeros(0), {}
    common = sorted(set.intersection(*(set(e.tolist()) for e, _ in seeds.values())))
    mean = [np.mean([values[list(epochs).index(x)] for epochs, values in seeds.values()]) for x in common]
    return np.array(common), np.array(mean), seeds


def learning_curves_figure(results, steps_per_epoch, title=None):
    """Sample quality and the memory's health against epoch, one line per run (seed
    mean, bold) and one thin line per seed; `results` is study.collect's
    {run: {seed: {step: result}}}. Returns (figure, panel keys drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(k, label) for k, label in CURVE_PANELS
              if any(k in r for per_seed in results.values() for by_step in per_seed.values() for r in by_step.values())]
    columns = min(3, max(1, len(panels)))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, label) in zip(axes.flat, panels):
        for i, (run, per_seed) in enumerate(sorted(results.items())):
            epochs, mean, seeds = curve_points(per_seed, key, steps_per_epoch)
            color = colors[i % len(colors)]
            for seed_epochs, seed_values in seeds.values():
                ax.plot(seed_epochs, seed_values, color=color, alpha=0.35, linewidth=0.8)
            if len(epochs):
                ax.plot(epochs, mean, color=color, marker="o", markersize=3, linewidth=1.8,
                        label=f"{run} ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if panels:
        axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, [k for k, _ in panels]
