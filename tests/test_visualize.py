"""The figure tools on a tiny trained run: sizes, orders, titles, row labels, progress,
one-line errors."""

import json
import os
import subprocess
import sys

import matplotlib.text
import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, generation, models, rundir, study
from memorygan_tf import visualize as vis
from memorygan_tf.models.infogan import figures as infogan_figures
from memorygan_tf.models.memorygan import figures as memory_figures
from tests.helpers import ROOT, TINY_FLAGS, assert_one_line_error, blobs, run_main, tiny_config


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
    model, _ = rundir.RunDir(trained[0]).load_model()
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


def png_title(path):
    """The "Title" text of a PNG (save_figure writes the figure's title there)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.text.get("Title", "")


GENERATOR_FIGURES = ("interpolate", "posterior", "neighbors", "slots", "samples", "clusters")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["interpolate", "posterior", "prior", "likelihood", "neighbors", "slots",
                                     "samples", "clusters"])
def test_every_subcommand_writes_its_titled_picture(trained, tmp_path, command):
    logdir, data_path = trained
    out = str(tmp_path / f"{command}.png")
    result = tool(command, f"--logdir={logdir}", f"--out={out}", f"--data_path={data_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Wrote {out}" in result.stdout
    title = png_title(out)
    assert "memorygan on custom" in title and "epoch 3 (step 6)" in title, title  # 3 epochs of 2 steps
    assert ("moving-average generator (EMA)" in title) == (command in GENERATOR_FIGURES), title
    shape = png_shape(out)
    if command in ("interpolate", "slots", "samples", "neighbors", "clusters"):  # an 8-wide grid at scale 2
        assert shape[1] > 2 * 8 * 28 and shape[0] > 2 * 2 * 28
    else:
        assert shape[0] > 200 and shape[1] > 300  # a matplotlib chart
    if command == "likelihood":  # every kept checkpoint, in order of steps, with its progress
        steps = [int(line.split()[1].rstrip(":")) for line in result.stdout.splitlines() if line.startswith("step ")]
        assert steps == sorted(step for step, _ in rundir.RunDir(logdir).checkpoint_files()) and len(steps) == 3
        assert "checkpoints 3/3 (100%)" in result.stdout and "ETA" in result.stdout
        assert "3 kept checkpoints from epoch 1 (step 2) to epoch 3 (step 6)" in title
    if command == "neighbors":
        assert "training images encoded 48/48 (100%)" in result.stdout


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
    (["codes", "--out=/tmp/x.png"], "codes is not a figure of a MemoryGAN run"),
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


def test_learning_curves_are_titled_with_the_pieces_the_caller_gives():
    results = {"memorygan": {0: {937: dict(fid=10.0)}}}
    fig, _ = vis.learning_curves_figure(results, 937, title="screen", dataset="fashion_mnist",
                                        budget="scored to epoch 1 of 3", classifier="ResNet w16 (test accuracy 0.93)")
    title = " ".join(fig.get_suptitle().split())
    for piece in ("screen", "fashion_mnist", "scored to epoch 1 of 3", "ResNet w16 (test accuracy 0.93)"):
        assert piece in title, title
    assert fig.axes[0].get_xlabel() == "epoch (937 steps)" and fig.axes[0].get_legend() is not None
    assert vis.learning_curves_figure(results, 937)[0].get_suptitle() == ""  # nothing given, nothing made up


def test_curve_figure_title_reads_the_classifier_the_evaluations_record():
    spec = study.StudySpec(name="screen", common_flags=("--dataset=mnist",), rounds=(1, 2, 3), runs={"a": ()},
                           seeds=(0, 1), steps_per_epoch=10, num_samples=5000)
    record = dict(width=16, test_accuracy=0.93026, path="/c/w16/classifier.keras")
    results = {"a": {0: {10: dict(fid=1.0, classifier=record), 20: dict(fid=1.0, classifier=record)},
                     1: {10: dict(fid=1.0)}}}
    pieces = study.curve_figure_title(spec, results)
    assert pieces == dict(title="screen", dataset="mnist", classifier="ResNet w16 (test accuracy 0.9303)",
                          budget="scored to epoch 2 of 3 (10 steps an epoch, 5,000 images a point), trained generator")
    assert study.curve_figure_title(spec, {})["classifier"] is None
    assert study.classifier_label(dict(path="/c/inception/classifier.keras")) == "inception"


def test_run_title_names_the_model_data_set_budget_and_weights():
    config = tiny_config("fashion_mnist")
    assert vis.run_title(config, 1874, 937, "moving-average generator (EMA)") == \
        "memorygan on fashion_mnist, epoch 2 (step 1874), moving-average generator (EMA)"
    assert vis.run_title(config, 1000, 937) == "memorygan on fashion_mnist, epoch 1.07 (step 1000)"
    assert vis.run_title(config, 5) == "memorygan on fashion_mnist, step 5"


def test_steps_per_epoch_is_the_flag_or_the_trainers_count():
    config = tiny_config("fashion_mnist", batch_size=8)
    assert config.train.steps_per_epoch is None
    assert vis.steps_per_epoch(config) is None
    assert vis.steps_per_epoch(config, np.zeros((100, 28, 28, 1))) == 12  # 100 // 8, as trainer.train counts
    twice = configs.ExperimentConfig(model=tiny_config(d_steps=2).model, optimizer=config.optimizer,
                                     train=configs.TrainConfig(batch_size=8))
    assert vis.steps_per_epoch(twice, np.zeros((100, 28, 28, 1))) == 6  # each step reads d_steps batches
    given = configs.ExperimentConfig(model=config.model, optimizer=config.optimizer,
                                     train=configs.TrainConfig(batch_size=8, steps_per_epoch=5))
    assert vis.steps_per_epoch(given, np.zeros((100, 28, 28, 1))) == 5


def test_row_labels_name_each_row_and_its_probability():
    assert vis.row_labels("slot", [17, 3], [0.0312, 0.00024]) == ["slot 17 (p=0.031)", "slot 3 (p=0.00024)"]
    assert vis.row_labels("code", range(2)) == ["code 0", "code 1"]


def figure_texts(fig):
    """Every text a figure shows (titles, labels, tick labels, legends), in one string."""
    return " ".join(" ".join(t.get_text().split()) for t in fig.findobj(matplotlib.text.Text) if t.get_text())


def texts_inside(fig):
    """Every non-empty text of a figure as drawn, with whether it lies inside the canvas."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    out = {}
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text() and text.get_visible():
            box = text.get_window_extent(renderer)
            out[text.get_text()] = box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
    return out


def test_image_figure_labels_rows_fits_its_texts_and_keeps_the_scale():
    grid = vis.tile(np.random.default_rng(0).random((3 * 8, 28, 28, 1)), 8)
    labels = ["slot 4095 (p=0.00012)", "slot 2 (p=0.5)", "slot 3 (p=0.25)"]
    title = "Samples per memory slot\n" + "memorygan on a_data_set_with_a_long_name, epoch 12 (step 11244), " * 2
    fig = vis.image_figure(grid, title, row_labels=labels, ylabel="memory slot", xlabel="z along the rows",
                           panels=[("left half of the grid", 0, 112), ("right half", 112, 224)], pixels=3)
    inside = texts_inside(fig)  # a plain savefig (generate.py's) cuts nothing off either
    assert all(inside.values()), [t for t, ok in inside.items() if not ok]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == labels  # top row first
    centres = fig.axes[0].get_yticks()
    np.testing.assert_allclose(centres, [13.5, 41.5, 69.5])  # the middle of each 28-pixel row
    shown = " ".join(inside)
    assert "left half of the grid" in shown and "z along the rows" in shown
    assert "a_data_set_with_a_long_name" in " ".join(fig.get_suptitle().split())
    box = fig.axes[0].get_window_extent()
    assert abs(box.width - 3 * 224) <= 1 and abs(box.height - 3 * 84) <= 1  # 3 screen pixels per image pixel


def test_generate_grid_figure_labels_its_rows():
    rows = [np.full((8, 28, 28, 1), 0.5, np.float32), np.zeros((3, 28, 28, 1), np.float32)]
    fig = generation.grid_figure(rows, ["slot 3", "slot 5"], "memorygan, runs/x, step 6, moving average")
    inside = texts_inside(fig)
    assert all(inside.values()) and {"slot 3", "slot 5"} <= set(inside)
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == (56, 224) and image[28:, 3 * 28:].min() == 1.0  # the short row padded white


def test_figures_of_a_run_are_titled_and_their_rows_labelled(trained):
    model, _ = rundir.RunDir(trained[0]).load_model()
    config = rundir.RunDir(trained[0]).load_config()
    with model.generator_weights("auto") as used:
        title = vis.run_title(config, int(model.step.numpy()), vis.steps_per_epoch(config), vis.WEIGHT_NAMES[used])
        assert title == "memorygan on custom, epoch 3 (step 6), moving-average generator (EMA)"
        fig, shown = memory_figures.slots_figure(model, title=title)
        prior = memory_figures.prior_probabilities(model)
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == \
            [f"slot {s} (p={prior[s]:.2g})" for s in shown]
        figures = {"slots": fig}
        fig, shown = vis.clusters_figure(model, rows=3, title=title)
        assert [t.get_text().split(" (")[0] for t in fig.axes[0].get_yticklabels()] == [f"slot {s}" for s in shown]
        figures["clusters"] = fig
        figures["interpolate"] = vis.interpolation_figure(
            [vis.interpolation_panel(model), memory_figures.key_interpolation_panel(model)], title)
        figures["samples"] = vis.samples_figure(vis.samples(model, 5), title)
        figures["neighbors"] = memory_figures.neighbors_figure(model, blobs(10), title=title)
        figures["posterior"] = memory_figures.posterior_figure(model, blobs(1)[0], title=title)[0]
    figures["prior"] = memory_figures.prior_figure(model, title=vis.run_title(config, 6, 2))[0]
    for name, fig in figures.items():
        texts = figure_texts(fig)
        assert "memorygan on custom" in texts and "epoch 3 (step 6)" in texts, name
        assert ("moving-average generator (EMA)" in texts) == (name != "prior"), name
    assert "z interpolated, slot" in figure_texts(figures["interpolate"])
    assert "keys interpolated between slots" in figure_texts(figures["interpolate"])


def test_weights_flag_picks_the_generator_the_title_names(trained, tmp_path):
    out = str(tmp_path / "samples.png")
    result = tool("samples", f"--logdir={trained[0]}", f"--out={out}", "--num=4", "--weights=trained")
    assert result.returncode == 0, result.stderr[-2000:]
    assert png_title(out).endswith("epoch 3 (step 6), trained generator"), png_title(out)


def test_codes_figure_labels_a_row_per_code_value():
    model = models.build(tiny_config(model="infogan", z_dim=3, info_categories=3, info_continuous=2).model)
    fig = infogan_figures.codes_figure(model, continuous_index=1, title="infogan on mnist, step 4")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["code 0", "code 1", "code 2"]
    assert "continuous code 1 from -1 to 1" in fig.axes[0].get_xlabel()
    assert "infogan on mnist, step 4" in fig.get_suptitle()


def test_study_figure_names_data_set_budget_and_classifier(tmp_path):
    """run_study.py --figure over scores on disk (nothing trained): the PNG's title names the
    data set, how far the study is scored and the classifier its evaluations record."""
    spec = tmp_path / "mini.json"
    spec.write_text('{"name": "mini", "common_flags": ["--dataset=mnist"], "rounds": [1, 2], "runs": {"a": []}, '
                    '"steps_per_epoch": 10, "num_samples": 1000}')
    record = dict(width=32, test_accuracy=0.9464, path=str(tmp_path / "clf" / "classifier.keras"))
    for step, fid in ((10, 30.0), (20, 20.0)):
        evaluation = tmp_path / "root" / "mini" / "a" / "seed_0" / "eval" / f"step_{step:08d}.json"
        evaluation.parent.mkdir(parents=True, exist_ok=True)
        evaluation.write_text(json.dumps(dict(step=step, fid=fid, classifier=record)))
    out = str(tmp_path / "curves.png")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_study.py"), f"--spec={spec}",
                             f"--root={tmp_path / 'root'}", "--summary_only", f"--figure={out}"],
                            capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    title = png_title(out)
    for piece in ("mini: mnist", "scored to epoch 2 of 2 (10 steps an epoch", "ResNet w32 (test accuracy 0.9464)"):
        assert piece in title, title


def test_likelihood_over_checkpoints_reuses_the_model_the_caller_loaded(monkeypatch):
    """Every kept checkpoint gives one point, oldest first; the one the caller passes as
    loaded is not loaded again, an unloadable one is skipped and said."""
    loads = []

    class Run:
        def checkpoint_files(self):
            return [(30, "/ckpt/ckpt-30"), (20, "/ckpt/ckpt-20"), (10, "/ckpt/ckpt-10")]

        def load_model(self, prefix, config=None):
            loads.append(prefix)
            if prefix.endswith("-20"):
                raise configs.ConfigError("checkpoint", "does not load")
            return prefix, prefix

    monkeypatch.setattr(memory_figures, "mean_log_likelihood", lambda model, images: -float(model.split("-")[-1]))
    said, drawn = [], {}
    monkeypatch.setattr(memory_figures, "likelihood_figure",
                        lambda steps, values, steps_per_epoch, title: drawn.update(steps=steps, values=values))
    memory_figures.likelihood_over_checkpoints(Run(), tiny_config(), np.zeros((2, 28, 28, 1), np.uint8),
                                               log=said.append, loaded=("/ckpt/ckpt-30", "/ckpt/ckpt-30"))
    assert loads == ["/ckpt/ckpt-10", "/ckpt/ckpt-20"]
    assert drawn == dict(steps=[10, 30], values=[-10.0, -30.0])
    assert any("skipped /ckpt/ckpt-20" in line for line in said)
