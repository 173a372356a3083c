"""InfoGAN's figure: what its codes control (Chen et al. 2016, Fig. 2)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from memorygan_tf.visualize import GRID, heading, image_figure, images_of, noise, row_labels, tile


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
    return tile(images_of(model, model.latent_from(z, tf.constant(codes), tf.constant(continuous))), columns)


def codes_figure(model, continuous_index=0, seed=0, title=None, pixels=2):
    """codes_grid as a figure, a row label per value of the categorical code; `title`
    names the run."""
    grid = codes_grid(model, continuous_index, seed)
    varied = f"continuous code {continuous_index} from -1 to 1 along the rows; " \
        if model.controls["continuous"].size else ""
    return image_figure(grid, heading("What InfoGAN's codes control", title), pixels=pixels,
                        row_labels=row_labels("code", range(model.controls["code"].size)),
                        ylabel="categorical code", xlabel=f"{varied}one z for the grid")
