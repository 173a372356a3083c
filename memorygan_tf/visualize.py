"""The figures every GAN offers (image grids, samples, z interpolation, clusters) and the
study's learning curves; a model's own figures live in its package (MemoryGAN's Figs.
1, 3 and 5 in models/memorygan/figures.py, InfoGAN's codes in models/infogan/figures.py).

Image grids are plain arrays ([rows * H, cols * W, C] in [0, 1]); image_figure draws one
with a title, row labels and axis labels (matplotlib, Agg: no display needed), and
save_png writes a bare one (TensorBoard's). Every function takes a trained model (see
rundir.RunDir.load_model) and returns what it draws, so the command line
(tools/visualize.py) only chooses and saves. run_title names what a figure shows: the
model, the data set, the checkpoint's epoch and step and the generator's weights.
"""

from __future__ import annotations

import textwrap

import numpy as np
import tensorflow as tf

from memorygan_tf import configs, data

GRID = 8
DPI = 100  # every figure is drawn and saved at this resolution
LABEL_POINTS, TITLE_POINTS = 8, 9


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------- what a figure shows
# How a title names the generator weights GAN.generator_weights gave (--weights).
WEIGHT_NAMES = {"ema": "moving-average generator (EMA)", "trained": "trained generator"}


def steps_per_epoch(config, train_images=None):
    """The run's steps per epoch (the trainer's rule, configs.steps_per_epoch): its
    --steps_per_epoch, else one pass over `train_images`; None when neither is known."""
    if not config.train.steps_per_epoch and train_images is None:
        return None
    return int(configs.steps_per_epoch(config, 0 if train_images is None else len(train_images))) or None


def budget(step, steps_per_epoch=None):
    """'epoch 2 (step 1874)', 'epoch 1.07 (step 1000)' or, with no epoch length, 'step 1000'."""
    step = int(step)
    if not steps_per_epoch:
        return f"step {step}"
    epochs = step / steps_per_epoch
    return f"epoch {epochs:.0f} (step {step})" if step % steps_per_epoch == 0 else f"epoch {epochs:.2f} (step {step})"


def run_title(config, step, steps_per_epoch=None, weights=None):
    """What a figure of a run shows: 'memorygan on fashion_mnist, epoch 2 (step 1874),
    moving-average generator (EMA)'; `weights` (a WEIGHT_NAMES value) only for the figures
    the generator draws."""
    parts = [f"{config.model.model} on {config.train.dataset}", budget(step, steps_per_epoch)]
    return ", ".join(parts + ([weights] if weights else []))


def row_labels(name, ids, weights=None):
    """Labels of the rows of a grid: 'slot 17 (p=0.031)' for each id, or 'code 3' without
    `weights` (each row's probability)."""
    if weights is None:
        return [f"{name} {int(i)}" for i in ids]
    return [f"{name} {int(i)} (p={float(w):.2g})" for i, w in zip(ids, weights)]


def cluster_labels(model, clusters):
    """row_labels of clusters of a clustering model: its cluster control's name (slot, code,
    mode) and each cluster's share of the cluster weights (MemoryGAN: the prior p(c))."""
    weights = np.asarray(model.cluster_weights(), np.float64)
    return row_labels(model.cluster_control, clusters, weights[np.asarray(clusters, int)] / weights.sum())


# ------------------------------------------------------------- labelled image grids
def _text_inches(characters, points):
    """A generous width of `characters` characters of matplotlib's default font."""
    return characters * points / 72 * 0.62


def wrap(text, inches, points):
    """`text` wrapped to lines that fit `inches` (its own line breaks kept)."""
    width = max(12, int(inches / _text_inches(1, points)))
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False) if line else "" for line in text.split("\n"))


def image_figure(grid, title, row_labels=None, xlabel=None, ylabel=None, panels=(), separators=(), pixels=2):
    """A figure of an image grid (tile's [H, W, C] in [0, 1]) at `pixels` screen pixels per
    image pixel, with `title` above, a label per row (`row_labels`: the grid cut into that
    many equal rows) and the axes' meaning. `panels` [(text, x0, x1)] names side-by-side
    parts of the grid (image columns x0 to x1); `separators` draws a line left of these
    image columns. The margins are sized for their texts, so nothing is cut off."""
    plt = pyplot()
    grid = np.clip(np.asarray(grid, np.float32), 0.0, 1.0)
    height, width, channels = grid.shape
    image_w, image_h = width * pixels / DPI, height * pixels / DPI
    line = lambda points: points / 72 * 1.4  # noqa: E731 - a line's height in inches
    labels = list(row_labels or [])
    left = 0.1 + (_text_inches(max(len(t) for t in labels), LABEL_POINTS) + 0.1 if labels else 0.0) \
        + (line(LABEL_POINTS) + 0.05 if ylabel else 0.0)
    right = 0.15
    fig_w = max(left + image_w + right, 4.0)  # a title needs room
    left += (fig_w - (left + image_w + right)) / 2  # the image centred
    title = wrap(title, fig_w - 0.2, TITLE_POINTS)
    panel_texts = [(wrap(text, (x1 - x0) * pixels / DPI, LABEL_POINTS), x0, x1) for text, x0, x1 in panels]
    panel_h = max([t.count("\n") + 1 for t, _, _ in panel_texts] or [0]) * line(LABEL_POINTS)
    top = 0.1 + (title.count("\n") + 1) * line(TITLE_POINTS) + (panel_h + 0.08 if panels else 0.0)
    xlabel = wrap(xlabel, fig_w - 0.2, LABEL_POINTS) if xlabel else None
    bottom = 0.12 + ((xlabel.count("\n") + 1) * line(LABEL_POINTS) + 0.05 if xlabel else 0.0)
    fig_h = top + image_h + bottom
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=DPI)
    ax = fig.add_axes([left / fig_w, bottom / fig_h, image_w / fig_w, image_h / fig_h])
    ax.imshow(grid[..., 0] if channels == 1 else grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
              aspect="auto")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks([])
    ax.tick_params(length=0)
    if labels:
        cell = height / len(labels)
        ax.set_yticks([(r + 0.5) * cell - 0.5 for r in range(len(labels))], labels, fontsize=LABEL_POINTS)
    else:
        ax.set_yticks([])
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_POINTS)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=LABEL_POINTS, labelpad=4)
    for x in separators:
        ax.axvline(x - 0.5, color="tab:red", linewidth=1.5)
    import matplotlib.transforms as transforms

    above = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    for text, x0, x1 in panel_texts:
        ax.text((x0 + x1 - 1) / 2, 1 + 0.04 / image_h, text, transform=above, ha="center", va="bottom",
                fontsize=LABEL_POINTS)
    fig.suptitle(title, y=1 - 0.06 / fig_h, va="top", fontsize=TITLE_POINTS)
    return fig


def save_figure(fig, path):
    """Writes a matplotlib figure as PNG at DPI, grown to hold every text, with its title
    also in the PNG's "Title" text, and closes it."""
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    metadata = {"Title": " ".join(title.split())} if title else {}
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.1, metadata=metadata)
    pyplot().close(fig)


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


def interpolation_cluster(model, cluster=None):
    """(control, value) that interpolate_z fixes: the model's cluster control
    (``cluster_control``: MemoryGAN's slot, InfoGAN's code, MIC-GANs' mode) at `cluster`, by
    default the heaviest cluster (never one of weight 0); (None, None) for a model without
    one (the DCGAN, MemoryGAN's "- MCGN"). ValueError for a cluster out of range."""
    control = model.cluster_control if model.clusters else None
    if control not in model.controls:
        return None, None
    size = model.controls[control].size
    cluster = int(np.argmax(model.cluster_weights())) if cluster is None else int(cluster)
    if not 0 <= cluster < size:
        raise ValueError(f"{control} {cluster} is outside the run's {size} {control}s")
    return control, cluster


def interpolate_z(model, seed=0, cluster=None):
    """Fig. 6: 8x8 bilinear interpolation of z between four random corners, with the
    model's cluster control fixed (interpolation_cluster) and the other controls at their
    defaults; over z alone for a model without one."""
    z = tf.constant(bilinear(noise(model, 4, seed).numpy()), tf.float32)
    control, cluster = interpolation_cluster(model, cluster)
    if control is None:
        return tile(images_of(model, model.latent_from(z)), GRID)
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



# ------------------------------------------------------------- the figures of every GAN
def heading(what, title=None):
    """A figure's title: what it shows and, on a line of its own, the run (run_title)."""
    return what if not title else f"{what}\n{title}"


def interpolation_panel(model, seed=0, cluster=None, run=None):
    """(grid, text) of interpolate_z for interpolation_figure; `run` (a run_title) names
    the run in the panel's text, for a panel of another run."""
    control, cluster = interpolation_cluster(model, cluster)
    text = "z interpolated" + (f", {control} {cluster} fixed" if control else "")
    return interpolate_z(model, seed, cluster), (f"{run}: {text}" if run else text)


def interpolation_figure(panels, title=None, pixels=2, gap=8):
    """Figs. 1 and 6: interpolation grids [(grid, text)] side by side, `gap` white pixels
    apart, each named by its text."""
    height, width, channels = panels[0][0].shape
    space = np.ones((height, gap, channels), np.float32)
    grid = np.concatenate(sum([[g, space] for g, _ in panels], [])[:-1], axis=1)
    named = [(text, i * (width + gap), i * (width + gap) + width) for i, (_, text) in enumerate(panels)]
    return image_figure(grid, heading("Interpolation (Figs. 1 and 6)", title), panels=named, pixels=pixels,
                        xlabel="bilinear between four corners, along the rows and down the columns")


def clusters_figure(model, rows=10, seed=0, title=None, pixels=2):
    """clusters_grid as a figure, each row labelled with its cluster and its share of the
    weight (cluster_labels); `title` names the run. Returns (figure, the clusters shown)."""
    grid, shown = clusters_grid(model, rows, seed=seed)
    control = model.cluster_control
    fig = image_figure(grid, heading(f"Samples per cluster: the {len(shown)} heaviest {control}s", title),
                       row_labels=cluster_labels(model, shown), pixels=pixels,
                       ylabel=f"{control} (p: its share of the weight)",
                       xlabel=f"{GRID} noise vectors z, the same in every row")
    return fig, shown


def samples_figure(images, title=None, seed=0, pixels=2):
    """Images (samples()'s) in a square-ish grid; `title` names the run."""
    fig = image_figure(tile(images, int(np.ceil(np.sqrt(len(images))))),
                       heading(f"{len(images)} samples from the prior", title), pixels=pixels,
                       xlabel=f"noise (and controls) drawn with seed {seed}")
    return fig

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


def learning_curves_figure(results, steps_per_epoch, title=None, dataset=None, budget=None, classifier=None):
    """Sample quality and the memory's health against epoch, one line per run (seed
    mean, bold) and one thin line per seed; `results` is study.collect's
    {run: {seed: {step: result}}}. The title names `title` (the study), the `dataset`, the
    `budget` and the `classifier` that scored the points, as far as the caller gives them.
    Returns (figure, panel keys drawn)."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    panels = [(k, label) for k, label in CURVE_PANELS
              if any(k in r for per_seed in results.values() for by_step in per_seed.values() for r in by_step.values())]
    columns = min(3, max(1, len(panels)))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows + 0.6), squeeze=False)
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
        ax.set_xlabel(f"epoch ({steps_per_epoch} steps)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if panels:
        axes.flat[0].legend(fontsize=8, title="bold: seed mean; thin: each seed", title_fontsize=7)
    head = ", ".join(p for p in (dataset, budget) if p)
    lines = [": ".join(p for p in (title, head) if p)] + ([f"scored with the classifier {classifier}"]
                                                           if classifier else [])
    if any(lines):
        fig.suptitle(wrap("\n".join(line for line in lines if line), 4.2 * columns - 0.3, 11), fontsize=11)
    fig.tight_layout()
    return fig, [k for k, _ in panels]
