"""The figure tools on a tiny trained run: sizes, orders, one-line errors."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import rundir
from memorygan_tf import visualize as vis
from memorygan_tf.models.memorygan import figures as memory_figures
from tests.helpers import ROOT, TINY_FLAGS, assert_one_line_error, blobs, run_main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vis")
    images = blobs(64)[..., 0]
    path = str(folder / "blobs.npz")
    np.savez(path, x_train=images[:48], y_train=np.zeros(48, np.uint8), x_test=images[48:],
             y_test=np.zeros(16, np.uint8))
    logdir = str(folder / "run")
    result = run_main(["--dataset=custom", f"--data_path={path}", f"--logdir={logdir}", "--batch_size=8",
                       "--steps_per_epoch=2", "--epochs=3", "--num_sample_images=4", "--kappa=10", *TINY_FLAGS])
    assert result.returncode == 0, result.stderr[-2000:]
    return logdir, path


def png_shape(path):
    return tuple(tf.io.decode_png(tf.io.read_file(path)).shape)


def test_grids_have_the_expected_sizes(trained, tmp_path):
    model, _ = rundir.load_trained_model(trained[0])
    assert vis.interpolate_z(model).shape == (8 * 28, 8 * 28, 1)
    grid, mapped = memory_figures.interpolate_keys(model)
    assert grid.shape == (224, 224, 1) and mapped.shape == (64,)
    assert set(mapped) <= set(range(model.memory.size))
    grid, shown = memory_figures.slots_grid(model, slots=[3, 5])
    assert grid.shape == (2 * 28, 8 * 28, 1) and shown == [3, 5]
    slots = memory_figures.probable_slots(model, 4)
    prior = memory_figures.prior_probabilities(model)
    assert np.all(np.diff(prior[slots]) <= 0)  # most probable first
    train = blobs(30)
    assert memory_figures.nearest_neighbors(model, train, n=3, k=4).shape == (3 * 28, 5 * 28, 1)
    vis.save_png(vis.tile(vis.samples(model, 5), 3), str(tmp_path / "s.png"), scale=2)
    assert png_shape(str(tmp_path / "s.png")) == (2 * 28 * 2, 3 * 28 * 2, 1)
    with pytest.raises(ValueError, match="slot 999 is outside"):
        memory_figures.slots_grid(model, slots=[999])


def test_bilinear_corners_and_centre():
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    points = vis.bilinear(corners, size=3)
    np.testing.assert_allclose(points[[0, 2, 6, 8]], corners[[0, 1, 2, 3]])
    np.testing.assert_allclose(points[4], [0.5, 0.5])


def tool(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "visualize.py"), *args],
                          capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                          timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["interpolate", "posterior", "prior", "likelihood", "neighbors", "slots",
                                     "samples"])
def test_every_subcommand_writes_its_picture(trained, tmp_path, command):
    logdir, data_path = trained
    out = str(tmp_path / f"{command}.png")
    result = tool(command, f"--logdir={logdir}", f"--out={out}", f"--data_path={data_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Wrote {out}" in result.stdout
    shape = png_shape(out)
    if command == "interpolate":
        assert shape[0] == 2 * 224 and shape[1] == 2 * (2 * 224 + 8)  # z | keys, scale 2
    elif command == "slots":
        assert shape[:2] == (2 * 8 * 28, 2 * 8 * 28)
    elif command == "samples":
        assert shape[:2] == (2 * 8 * 28, 2 * 8 * 28)
    else:
        assert shape[0] > 200 and shape[1] > 300  # a matplotlib chart
    if command == "likelihood":  # every checkpoint, in order of steps
        steps = [int(line.split()[1].rstrip(":")) for line in result.stdout.splitlines() if line.startswith("step ")]
        assert steps == sorted(steps) and len(steps) >= 2


def test_samples_as_npz(trained, tmp_path):
    out = str(tmp_path / "samples.npz")
    result = tool("samples", f"--logdir={trained[0]}", f"--out={out}", "--num=10")
    assert result.returncode == 0, result.stderr[-2000:]
    images = np.load(out)["images"]
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.uint8


@pytest.mark.messages
@pytest.mark.parametrize("args,message", [
    (["slots", "--logdir=/nonexistent", "--out=/tmp/x.png"], "error: --logdir:"),
    (["slots", "--slots=99999", "--out=/tmp/x.png"], "slot 99999 is outside"),
    (["frobnicate", "--out=/tmp/x.png"], "give one subcommand"),
])
def test_errors_are_one_line(trained, args, message):
    if not any(a.startswith("--logdir") for a in args):
        args = args + [f"--logdir={trained[0]}"]
    result = tool(*args)
    assert_one_line_error(result, message)


def test_tile_places_images_in_rows_and_fills_the_rest():
    images = np.stack([np.full((2, 3, 1), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4, 0.5)])
    grid = vis.tile(images)  # 5 images -> 3 columns, 2 rows
    assert grid.shape == (4, 9, 1)
    assert grid[0, 0, 0] == np.float32(0.1) and grid[0, 6, 0] == np.float32(0.3)
    assert grid[2, 3, 0] == np.float32(0.5) and grid[3, 8, 0] == 1.0  # empty cell: white
    assert vis.tile(images, columns=5, background=0.0).shape == (2, 15, 1)
    assert vis.tile(images, columns=2, background=0.0)[5, 5, 0] == 0.0  # TensorBoard's black


def test_learning_curves_average_the_epochs_every_seed_reached():
    """Seed means by hand; a seed that is behind adds its thin line but not a mean point;
    panels appear only for numbers some run has (the DCGAN has no memory health)."""
    results = {"memorygan": {0: {937: dict(fid=10.0, effective_slots=40.0), 1874: dict(fid=8.0, effective_slots=30.0)},
                             1: {"937": dict(fid=12.0, effective_slots=50.0)}},
               "dcgan": {0: {937: dict(fid=14.0), 1874: dict(fid=9.0)}}}
    epochs, mean, seeds = vis.curve_points(results["memorygan"], "fid", 937)
    np.testing.assert_allclose(epochs, [1.0])
    np.testing.assert_allclose(mean, [11.0])
    np.testing.assert_allclose(seeds[0][1], [10.0, 8.0])
    epochs, mean, _ = vis.curve_points(results["dcgan"], "fid", 937)
    np.testing.assert_allclose(epochs, [1.0, 2.0])
    np.testing.assert_allclose(mean, [14.0, 9.0])
    assert vis.curve_points(results["dcgan"], "effective_slots", 937)[0].size == 0
    fig, drawn = vis.learning_curves_figure(results, 937)
    assert drawn == ["fid", "effective_slots"]
    fid_axis = fig.axes[0]
    bold = [line for line in fid_axis.get_lines() if line.get_linewidth() > 1.5]
    assert sorted(tuple(line.get_ydata()) for line in bold) == [(11.0,), (14.0, 9.0)]
