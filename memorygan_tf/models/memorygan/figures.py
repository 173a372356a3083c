"""MemoryGAN's figures (Figs. 1, 3, 5 of Kim et al., 2018) from a trained model.

Every function takes a trained MemoryGAN (see rundir.load_trained_model) and returns
what it draws; tools/visualize.py only chooses and saves. The grids and helpers every
GAN shares are memorygan_tf.visualize's.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from memorygan_tf import data
from memorygan_tf.visualize import GRID, images_of, bilinear, noise, samples, tile


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
            strip = images_of(model, model.latent_from(z, tf.fill([per_slot], int(slot))))
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
