"""MemoryGAN's figures (Figs. 1, 3, 5 of Kim et al., 2018) from a trained model.

Every function takes a trained MemoryGAN (see rundir.RunDir.load_model) and returns
what it draws; tools/visualize.py only chooses and saves. The grids and helpers every
GAN shares are memorygan_tf.visualize's.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from memorygan_tf import configs, data
from memorygan_tf.visualize import GRID, bilinear, budget, heading, image_figure, images_of, noise, pyplot, \
    row_labels, samples, tile, wrap


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
    size = model.memory.size
    for slot in slots:
        if not 0 <= slot < size:
            raise ValueError(f"slot {slot} is outside the memory's {size} slots")


def corner_slots(model, slots=None):
    """The four corner slots of interpolate_keys: `slots`, else the four most probable."""
    slots = list(probable_slots(model, 4)) if slots is None else [int(s) for s in slots]
    check_slots(model, slots)
    if len(slots) != 4:
        raise ValueError("key interpolation needs 4 corner slots")
    return slots


def interpolate_keys(model, seed=0, slots=None):
    """Fig. 1: keys interpolated between four memory slots (corner_slots), each point
    mapped to its argmax-posterior slot as the paper does; z fixed."""
    if not model.conditional:
        raise ValueError("the run has no memory-conditional generator (use interpolate_z)")
    slots = corner_slots(model, slots)
    keys = model.memory.keys.numpy()[slots]
    points = tf.constant(bilinear(keys), tf.float32)
    mapped = model.memory.posterior(points)[0][:, 0]
    z = tf.repeat(noise(model, 1, seed), GRID * GRID, axis=0)
    return tile(images_of(model, model.latent_from(z, mapped)), GRID), mapped.numpy()


def slots_grid(model, slots=None, per_slot=GRID, seed=0):
    """One row per slot (the most probable first, or `slots`), z varying along the row."""
    if not model.conditional:
        raise ValueError("the run has no memory-conditional generator")
    slots = list(probable_slots(model, GRID)) if slots is None else list(slots)
    check_slots(model, slots)
    z = noise(model, per_slot, seed)
    latent = model.latent_from(tf.tile(z, [len(slots), 1]), tf.constant(np.repeat(slots, per_slot), tf.int32))
    return tile(images_of(model, latent), per_slot), slots


def slot_labels(model, slots):
    """Row labels of slots: 'slot 17 (p=0.031)', p the MCGN prior (visualize.row_labels)."""
    return row_labels("slot", slots, prior_probabilities(model)[np.asarray(slots, int)])


def slots_figure(model, slots=None, seed=0, title=None, pixels=2):
    """slots_grid as a figure, each row labelled with its slot and prior (slot_labels);
    `title` names the run. Returns (figure, slots shown)."""
    grid, shown = slots_grid(model, slots, seed=seed)
    order = "the slots asked for" if slots is not None else "the most probable first"
    fig = image_figure(grid, heading(f"Samples per memory slot, {order}", title), row_labels=slot_labels(model, shown),
                       ylabel="memory slot (p: its prior p(c))", pixels=pixels,
                       xlabel=f"{GRID} noise vectors z, the same in every row")
    return fig, shown


def key_interpolation_panel(model, seed=0, slots=None):
    """(grid, text) of interpolate_keys for visualize.interpolation_figure."""
    corners = corner_slots(model, slots)
    grid, _ = interpolate_keys(model, seed, corners)
    return grid, (f"keys interpolated between slots {', '.join(map(str, corners))}, each point at its "
                  "argmax-posterior slot; one z")


def queries(model, images, batch_size=1000, progress=None):
    """Unit queries q of uint8 images [n, H, W, C] (the DMN encoder); `progress(done, total)`
    after each batch."""
    out = []
    for start in range(0, len(images), batch_size):
        x = data.scale_images(images[start:start + batch_size], model.config.output_activation)
        out.append(model.memory.normalize(model.encoder(x, training=False)).numpy())
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    return np.concatenate(out)


def nearest_neighbors(model, train_images, n=GRID, k=GRID - 1, seed=0, progress=None):
    """Fig. 5: n generated images (first column), each followed by its k nearest training
    images by cosine of the query; `progress(done, total)` as the training images are encoded."""
    generated = samples(model, n, seed)
    to_uint8 = (np.clip(generated, 0, 1) * 255 + 0.5).astype(np.uint8)
    q_gen, q_train = queries(model, to_uint8), queries(model, train_images, progress=progress)
    nearest = np.argsort(-(q_gen @ q_train.T), axis=1)[:, :k]
    rows = []
    for i in range(n):
        rows.append(generated[i])
        rows.extend(train_images[nearest[i]].astype(np.float32) / 255.0)
    return tile(np.stack(rows), k + 1)


def neighbors_figure(model, train_images, seed=0, title=None, pixels=2, progress=None):
    """nearest_neighbors as a figure: a line between the generated images and their
    neighbours; `title` names the run, `progress` as nearest_neighbors'."""
    grid = nearest_neighbors(model, train_images, seed=seed, progress=progress)
    return image_figure(grid, heading("Nearest training images of generated ones (Fig. 5)", title),
                        separators=[grid.shape[1] // GRID], ylabel="generated images", pixels=pixels,
                        xlabel=f"generated | its {GRID - 1} nearest of {len(train_images)} training images by the "
                        "cosine of the discriminator's query")


def posterior_figure(model, image, top=10, per_slot=4, seed=0, title=None, query="query x"):
    """Fig. 3b: p(c|x) over the top slots of one query image, with samples of each slot.
    `title` names the run (visualize.run_title), `query` the image."""
    plt = pyplot()
    query_vector = tf.constant(queries(model, image[None]))
    slots, probs = model.memory.posterior(query_vector)
    slots, probs = slots.numpy()[0][:top], probs.numpy()[0][:top]
    fig = plt.figure(figsize=(10, 5))
    fig.suptitle(wrap(heading(f"Posterior p(c | x) over the memory's top {len(slots)} slots (Fig. 3b)", title),
                      9.6, 10), fontsize=10)
    ax_img = fig.add_axes([0.01, 0.38, 0.11, 0.3])
    ax_img.imshow(np.squeeze(image), cmap="gray")
    ax_img.set_title(query, fontsize=9)
    ax_img.axis("off")
    ax = fig.add_axes([0.2, 0.45, 0.78, 0.36])
    ax.yaxis.set_label_coords(-0.06, 0.5)
    values = model.memory.values.numpy()
    colors = ["tab:blue" if values[s] > 0.5 else "tab:red" for s in slots]
    ax.bar(range(len(slots)), probs, color=colors)
    ax.set_xticks(range(len(slots)), [str(s) for s in slots])
    ax.set_xlabel("memory slot c", labelpad=2)
    ax.set_ylabel("p(c | x)")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="tab:blue", label="real slot (v=1)"),
                       Patch(color="tab:red", label="fake slot (v=0)")], fontsize=8, loc="upper right")
    if model.conditional:
        z = noise(model, per_slot, seed)
        fig.text(0.19, 0.2, f"{per_slot} samples\nof each slot", ha="right", va="center", fontsize=8)
        for i, slot in enumerate(slots):
            strip = images_of(model, model.latent_from(z, tf.fill([per_slot], int(slot))))
            sub = fig.add_axes([0.2 + 0.78 * (i + 0.1) / len(slots), 0.02, 0.78 * 0.8 / len(slots), 0.34])
            sub.imshow(np.squeeze(tile(strip, 1)), cmap="gray", vmin=0, vmax=1)
            sub.axis("off")
    return fig, slots, probs


def prior_figure(model, title=None):
    """Fig. 3c: p(c) ~ h v over the slots, sorted, with the number holding 90 % of the mass;
    `title` names the run (visualize.run_title)."""
    plt = pyplot()
    prior = np.sort(prior_probabilities(model))[::-1]
    cumulative = np.cumsum(prior)
    holding = int(np.searchsorted(cumulative, 0.9) + 1)
    fig, ax = plt.subplots(figsize=(7, 4.4))
    ax.plot(np.arange(1, len(prior) + 1), prior, lw=1.5, label="p(c), slots by rank")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(holding, color="tab:red", ls="--", label=f"{holding} slots hold 90 % of p(c)")
    ax.set_xlabel("slot rank (most probable first)")
    ax.set_ylabel("prior p(c) ~ h v")
    fig.suptitle(wrap(heading("MCGN prior over the memory slots (Fig. 3c)", title), 6.6, 10), fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig, holding


def likelihood_figure(steps, values, steps_per_epoch=None, title=None):
    """Fig. 3a: mean test log-likelihood log p(x) under the memory at each checkpoint,
    against epoch when `steps_per_epoch` is known (else step); `title` names the run."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    x = np.asarray(steps, np.float64) / steps_per_epoch if steps_per_epoch else np.asarray(steps)
    ax.plot(x, values, marker="o", label=f"{len(steps)} checkpoint{'s' if len(steps) != 1 else ''}")
    ax.set_xlabel(f"epoch ({steps_per_epoch} steps)" if steps_per_epoch else "training step")
    ax.set_ylabel("mean log p(x) of test images")
    fig.suptitle(wrap(heading("Test log-likelihood under the memory (Fig. 3a)", title), 6.6, 10), fontsize=10)
    if steps_per_epoch:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def likelihood_over_checkpoints(run, config, test_images, steps_per_epoch=None, log=print, progress=None,
                                loaded=None):
    """Fig. 3a over every checkpoint the run (a rundir.RunDir) kept, oldest first: each
    loaded (one that does not is skipped, said by `log`) and its mean_log_likelihood of the
    uint8 `test_images` said by `log`; `progress(done, total)` after each. `loaded`: a
    (checkpoint prefix, model) the caller has loaded already, used instead of loading that
    checkpoint again. Returns the figure (likelihood_figure); ValueError if no checkpoint
    loads."""
    found = sorted(run.checkpoint_files())
    steps, values = [], []
    same = lambda a, b: os.path.abspath(a) == os.path.abspath(b)  # noqa: E731
    for done, (step, prefix) in enumerate(found, 1):
        try:
            if loaded is not None and same(prefix, loaded[0]):
                model = loaded[1]
            else:
                model, _ = run.load_model(prefix, config=config)
        except configs.ConfigError as err:
            log(f"skipped {prefix}: {err}")
        else:
            steps.append(step)
            values.append(mean_log_likelihood(model, test_images))
            log(f"step {step}: mean log p(x) {values[-1]:.4f}")
        if progress:
            progress(done, len(found))
    if not steps:
        raise ValueError(f"none of the {len(found)} checkpoints in {run.checkpoints} loads")
    title = (f"{config.model.model} on {config.train.dataset}, {len(steps)} kept checkpoints from "
             f"{budget(steps[0], steps_per_epoch)} to {budget(steps[-1], steps_per_epoch)}, "
             f"{len(test_images)} test images")
    return likelihood_figure(steps, values, steps_per_epoch, title)


def mean_log_likelihood(model, images):
    """Mean Memory.log_likelihood of uint8 images."""
    return float(np.mean(model.memory.log_likelihood(tf.constant(queries(model, images))).numpy()))
