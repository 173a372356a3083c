"""The paper's figures from a trained run (Figs. 1, 3, 5, 6 of Kim et al., 2018).

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


def _images(model, latent):
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


def probable_slots(model, count):
    """The `count` real slots with the largest prior p(c) ~ h v, most probable first."""
    prior = prior_probabilities(model)
    order = np.argsort(-prior, kind="stable")
    return order[: min(count, int(np.sum(prior > 0)))]


def prior_probabilities(model):
    """p(c) ~ h_c v_c over all slots (Sec. 3.2)."""
    logits = model.memory.prior_logits().numpy().astype(np.float64)
    p = np.exp(logits - np.max(logits))
    return p / p.sum()


def check_slots(model, slots):
    """Raises ValueError naming the first slot outside [0, N)."""
    size = model.memory.size if model.memory is not None else 0
    for slot in slots:
        if not 0 <= slot < size:
            raise ValueError(f"slot {slot} is outside the memory's {size} slots")


def interpolate_z(model, seed=0, slot=None):
    """Fig. 6: 8x8 bilinear interpolation of z between four random corners, with one fixed
    memory slot (the most probable unless `slot`), or over z alone without an MCGN."""
    z = bilinear(noise(model, 4, seed).numpy())
    z = tf.constant(z, tf.float32)
    if "code" in model.controls:  # InfoGAN: categorical code 0, continuous codes 0
        return tile(_images(model, model.latent_from(z, tf.zeros([GRID * GRID], tf.int32))), GRID)
    if "mode" in model.controls:  # MIC-GANs: the heaviest mode of the mixture (never one the CRP pruned)
        mode = int(np.argmax(model.cluster_weights()))
        return tile(_images(model, model.latent_from(z, tf.fill([GRID * GRID], mode))), GRID)
    if not getattr(model, "conditional", False):
        if model.generator_input_dim() != z.shape[-1]:
            raise ValueError(f"interpolate cannot condition a {type(model).__name__} run's generator "
                             f"({model.generator_input_dim()} inputs, z has {z.shape[-1]})")
        return tile(_images(model, z), GRID)
    slot = int(probable_slots(model, 1)[0]) if slot is None else slot
    check_slots(model, [slot])
    return tile(_images(model, model.latent_from(z, tf.fill([GRID * GRID], slot))), GRID)


def interpolate_keys(model, seed=0, slots=None):
    """Fig. 1: keys interpolated between four memory slots (the most probable unless
    `slots`), each point mapped to its argmax-posterior slot as the paper does; z fixed."""
    if not model.conditional:
        raise ValueError("the run has no memory-conditional generator (use interpolate_z)")
    slots = list(probable_slots(model, 4)) if slots is None else list(slots)
    check_slots(model, slots)
    if len(slots) != 4:
        raise ValueError("key interpolation needs 4 corner slots")
    keys = model.memory.keys.numpy()[slots]
    points = tf.constant(bilinear(keys), tf.float32)
    mapped = model.memory.posterior(points)[0][:, 0]
    z = tf.repeat(noise(model, 1, seed), GRID * GRID, axis=0)
    return tile(_images(model, model.latent_from(z, mapped)), GRID), mapped.numpy()


def slots_grid(model, slots=None, per_slot=GRID, seed=0):
    """One row per slot (the most probable first, or `slots`), z varying along the row."""
    if not model.conditional:
        raise ValueError("the run has no memory-conditional generator")
    slots = list(probable_slots(model, GRID)) if slots is None else list(slots)
    check_slots(model, slots)
    z = noise(model, per_slot, seed)
    latent = model.latent_from(tf.tile(z, [len(slots), 1]), tf.constant(np.repeat(slots, per_slot), tf.int32))
    return tile(_images(model, latent), per_slot), slots


def codes_grid(model, continuous_index=0, seed=0, columns=GRID):
    """InfoGAN (Chen et al. 2016, Fig. 2): one row per value of the categorical code, the
    continuous code `continuous_index` from -1 to 1 along the row, the other continuous
    codes 0 and one z for the whole grid."""
    if "code" not in model.controls:
        raise ValueError(f"codes needs an InfoGAN run (this run's model is {type(model).__name__})")
    categories, width = model.controls["code"].size, model.controls["continuous"].size
    if width and not 0 <= continuous_index < width:
        raise ValueError(f"continuous code {continuous_index} is outside the run's {width} continuous codes")
    codes = np.repeat(np.arange(categories, dtype=np.int32), columns)
    continuous = np.zeros((categories * columns, width), np.float32)
    if width:
        continuous[:, continuous_index] = np.tile(np.linspace(-1.0, 1.0, columns), categories)
    z = tf.repeat(noise(model, 1, seed), categories * columns, axis=0)
    return tile(_images(model, model.latent_from(z, tf.constant(codes), tf.constant(continuous))), columns)


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
    return tile(_images(model, model.latent_from(z, **{model.cluster_control: ids})), columns), shown


def samples(model, n, seed=0):
    """n images from the prior (generate), reproducible from `seed`: [n, H, W, C] in [0, 1]."""
    from memorygan_tf import evaluation

    return evaluation.generate_images(model, n, seed=seed)


def queries(model, images, batch_size=1000):
    """Unit queries q of uint8 images [n, H, W, C] (the DMN encoder)."""
    out = []
    for start in range(0, len(images), batch_size):
        x = data.scale_images(images[start:start + batch_size], model.config.output_activation)
        out.append(model.memory.normalize(model.encoder(x, training=False)).numpy())
    return np.concatenate(out)


def nearest_neighbors(model, train_images, n=GRID, k=GRID - 1, seed=0):
    """Fig. 5: n generated images (first column), each followed by its k nearest training
    images by cosine of the query."""
    if model.memory is None:
        raise ValueError("the run has no memory (no query space)")
    generated = samples(model, n, seed)
    to_uint8 = (np.clip(generated, 0, 1) * 255 + 0.5).astype(np.uint8)
    q_gen, q_train = queries(model, to_uint8), queries(model, train_images)
    nearest = np.argsort(-(q_gen @ q_train.T), axis=1)[:, :k]
    rows = []
    for i in range(n):
        rows.append(generated[i])
        rows.extend(train_images[nearest[i]].astype(np.float32) / 255.0)
    return tile(np.stack(rows), k + 1)


def posterior_figure(model, image, top=10, per_slot=4, seed=0):
    """Fig. 3b: p(c|x) over the top slots of one query image, with samples of each slot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    query = tf.constant(queries(model, image[None]))
    slots, probs = model.memory.posterior(query)
    slots, probs = slots.numpy()[0][:top], probs.numpy()[0][:top]
    fig = plt.figure(figsize=(10, 4.5))
    ax_img = fig.add_axes([0.01, 0.35, 0.11, 0.35])
    ax_img.imshow(np.squeeze(image), cmap="gray")
    ax_img.set_title("query x")
    ax_img.axis("off")
    ax = fig.add_axes([0.2, 0.45, 0.78, 0.45])
    ax.yaxis.set_label_coords(-0.06, 0.5)
    colors = ["tab:blue" if model.memory.values.numpy()[s] > 0.5 else "tab:red" for s in slots]
    ax.bar(range(len(slots)), probs, color=colors)
    ax.set_xticks(range(len(slots)), [str(s) for s in slots])
    ax.set_ylabel("p(c | x)")
    ax.set_title("posterior over the top slots (blue: real, red: fake)")
    if model.conditional:
        z = noise(model, per_slot, seed)
        for i, slot in enumerate(slots):
            strip = _images(model, model.latent_from(z, tf.fill([per_slot], int(slot))))
            sub = fig.add_axes([0.2 + 0.78 * (i + 0.1) / len(slots), 0.03, 0.78 * 0.8 / len(slots), 0.36])
            sub.imshow(np.squeeze(tile(strip, 1)), cmap="gray")
            sub.axis("off")
    return fig, slots, probs


def prior_figure(model):
    """Fig. 3c: p(c) ~ h v over the slots, sorted, with the number holding 90 % of the mass."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prior = np.sort(prior_probabilities(model))[::-1]
    cumulative = np.cumsum(prior)
    holding = int(np.searchsorted(cumulative, 0.9) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(prior) + 1), prior, lw=1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(holding, color="tab:red", ls="--", label=f"{holding} slots hold 90 % of p(c)")
    ax.set_xlabel("slot rank")
    ax.set_ylabel("p(c)")
    ax.set_title("MCGN prior over memory slots")
    ax.legend()
    return fig, holding


def likelihood_figure(steps, values):
    """Fig. 3a: mean test log-likelihood log p(x) under the memory at each checkpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, values, marker="o")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean log p(x) of test images")
    ax.set_title("Test log-likelihood under the memory")
    return fig


def mean_log_likelihood(model, images):
    """Mean Memory.log_likelihood of uint8 images."""
    return float(np.mean(model.memory.log_likelihood(tf.constant(queries(model, images))).numpy()))


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
