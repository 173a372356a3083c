"""The paper's figures from a run directory, one command each.

    python tools/visualize.py SUBCOMMAND --logdir=RUN --out=FILE.png

Subcommands:
  interpolate  Figs. 1 and 6: 8x8 interpolation of z with a fixed slot (and, for a
               MemoryGAN run, of keys mapped to their argmax-posterior slot); with
               --logdir2 the second run's z interpolation is put beside (e.g. a DCGAN).
  posterior    Fig. 3b: p(c|x) over the top slots of test image --index, with samples.
  prior        Fig. 3c: the MCGN prior p(c) ~ h v, sorted; slots holding 90 % of it.
  likelihood   Fig. 3a: mean test log-likelihood at every checkpoint the run kept.
  neighbors    Fig. 5: generated images and their nearest training images (query cosine).
  slots        One row per slot (most probable first, or --slots=3,17,...), z along rows.
  samples      --num images as a PNG grid, or an .npz (--out=FILE.npz) for outside scoring.
  clusters     Samples per cluster (MIC-GANs' Fig. 1): a row per cluster, the --num heaviest
               (MemoryGAN: slots by the prior h v; InfoGAN: code values), noise along rows.
  codes        InfoGAN runs (Chen et al. 2016, Fig. 2): one row per value of the categorical
               code, continuous code --index from -1 to 1 along the rows.
Every PNG is titled with the model, the data set, the checkpoint's epoch and step and,
where the generator draws it, its weights (--weights); rows that mean something (slots,
clusters, codes) are labelled. A run offers the figures its model declares (GAN.figures);
another is refused in one line naming the model. A thin wrapper over memorygan_tf.visualize
and the models' figures modules (models/memorygan/figures.py, models/infogan/figures.py).
"""

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memorygan_tf import configs  # noqa: E402 - after the path; imports no TensorFlow

SUBCOMMANDS = ("interpolate", "posterior", "prior", "likelihood", "neighbors", "slots", "samples", "codes",
               "clusters")
FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", None, "Run directory written by memorygan_tf.main.")
flags.DEFINE_string("logdir2", None, "interpolate: a second run shown beside the first (e.g. '- Memory').")
flags.DEFINE_string("out", None, "Output file (.png; samples also .npz).")
flags.DEFINE_string("checkpoint", None, "A specific checkpoint (default: the newest that loads).")
flags.DEFINE_string("data_path", None, "An .npz with x_train/x_test (default: the run's data or the local copy).")
flags.DEFINE_list("slots", None, "slots / interpolate: memory slots to show.")
flags.DEFINE_integer("index", 0, "posterior: index of the test image used as query; codes: the continuous code "
                     "varied along the rows.")
flags.DEFINE_integer("num", 64, "samples: number of images; clusters: rows (default 10).")
flags.DEFINE_integer("seed", 0, "Seed of the noise.")
flags.DEFINE_integer("scale", 2, "Screen pixels per image pixel in image grids.")
flags.DEFINE_enum("weights", "auto", list(configs.GENERATOR_WEIGHTS), "The generator's weights in the figures it "
                  "draws: its moving average (ema), its trained weights, or auto (the average where the run keeps one).")
flags.DEFINE_integer("subset", 10000, "neighbors / likelihood: images of the data used.")
flags.mark_flags_as_required(["logdir", "out"])


def main(argv):
    import contextlib

    import numpy as np

    from memorygan_tf import cli
    from memorygan_tf.cli import fail

    cli.quiet_logging(FLAGS.verbosity)
    if len(argv) != 2 or argv[1] not in SUBCOMMANDS:
        return fail(f"give one subcommand: {', '.join(SUBCOMMANDS)}")
    command = argv[1]
    from memorygan_tf import configs, data, rundir
    from memorygan_tf import visualize as vis
    from memorygan_tf.models.infogan import figures as infogan_figures
    from memorygan_tf.models.memorygan import figures as memory_figures

    out_dir = os.path.dirname(os.path.abspath(FLAGS.out))
    if os.path.isdir(FLAGS.out):
        return fail(f"--out: {FLAGS.out} is a folder; give a file name, e.g. {os.path.join(FLAGS.out, command)}.png")
    suffixes = (".png", ".npz") if command == "samples" else (".png",)
    if not FLAGS.out.lower().endswith(suffixes):
        return fail(f"--out: {FLAGS.out} must end in {' or '.join(suffixes)} (the file {command} writes)")
    if not os.path.isdir(out_dir):
        return fail(f"--out: folder {out_dir} does not exist")
    for name in ("num", "subset", "scale"):
        if FLAGS[name].value < 1:
            return fail(f"--{name} must be at least 1, got {FLAGS[name].value}")
    try:
        slots = [int(s) for s in FLAGS.slots] if FLAGS.slots else None
    except ValueError:
        return fail(f"--slots: expected integers, got {','.join(FLAGS.slots)}")
    run = rundir.RunDir(FLAGS.logdir)
    if not run.has_config():
        return fail(f"--logdir: {FLAGS.logdir} is not a run directory (no {run.CONFIG})")
    loaded = {}

    def data_path(cfg):
        """Where a run's data is: --data_path for --logdir's data set, else the run's own."""
        given = FLAGS.data_path if cfg.train.dataset == config.train.dataset else None
        return data.resolve_data_path(cfg.train.dataset, given or cfg.train.data_path,
                                      data.default_search_path(os.environ))

    def split(cfg, name):
        """A run's training images or labelled test images (read once)."""
        key = (cfg.train.dataset, data_path(cfg), name)
        if key not in loaded:
            if name == "train":
                loaded[key] = data.load_images(cfg.train.dataset, key[1], cfg.train.data_dir, cfg.train.seed)
            else:
                loaded[key] = data.load_labelled(cfg.train.dataset, key[1], cfg.train.data_dir, cfg.train.seed)[2]
        return loaded[key]

    def epoch_steps(cfg):
        """A run's steps per epoch: its --steps_per_epoch, else counted from a local copy of
        its data (None without one: the title then gives the step alone)."""
        if cfg.train.steps_per_epoch or not data_path(cfg):
            return vis.steps_per_epoch(cfg)
        try:
            return vis.steps_per_epoch(cfg, split(cfg, "train"))
        except (data.DataError, OSError):
            return None

    def title(model, cfg, weights=None):
        return vis.run_title(cfg, int(model.step.numpy()), epoch_steps(cfg), weights)

    def bar(total, label):
        """progress(done, total) for the library, from now: Keras's Progbar with an ETA on a
        terminal, a line now and then in a log."""
        update = cli.progress(total, label)
        return lambda done, _total: update(done)

    def say(line):  # a line of its own above the progress bar on a terminal
        print(f"\r{line}\x1b[K" if cli.interactive() else line, flush=True)

    try:
        config = run.load_config()
        model, checkpoint = run.load_model(FLAGS.checkpoint, config=config)
        if command not in model.figures:
            raise ValueError(f"{command} is not a figure of a {type(model).__name__} run; it offers "
                             f"{', '.join(model.figures)}")
        with contextlib.ExitStack() as stack:
            # What the generator draws: every figure but the memory's own (and a posterior without samples)
            draws = command not in ("prior", "likelihood") and (command != "posterior" or model.conditional)
            weights = None
            if draws:
                weights = vis.WEIGHT_NAMES[stack.enter_context(model.generator_weights(FLAGS.weights))]
            run_title = title(model, config, weights)
            pixels = dict(pixels=FLAGS.scale)
            fig = None
            if command == "interpolate":
                panels = [vis.interpolation_panel(model, FLAGS.seed, slots[0] if slots else None)]
                if "slots" in model.figures:  # a MemoryGAN whose generator reads keys: Fig. 1 beside
                    panels.append(memory_figures.key_interpolation_panel(model, FLAGS.seed, slots))
                if FLAGS.logdir2:
                    other_run = rundir.RunDir(FLAGS.logdir2)
                    other_config = other_run.load_config()
                    other, _ = other_run.load_model(config=other_config)
                    used = stack.enter_context(other.generator_weights(FLAGS.weights))
                    other_weights = vis.WEIGHT_NAMES[used]
                    panels.append(vis.interpolation_panel(other, FLAGS.seed,
                                                          run=title(other, other_config, other_weights)))
                fig = vis.interpolation_figure(panels, run_title, **pixels)
            elif command == "clusters":
                fig, shown = vis.clusters_figure(model, FLAGS.num if FLAGS["num"].present else 10, FLAGS.seed,
                                                 run_title, **pixels)
                print(f"rows: clusters {', '.join(map(str, shown))}")
            elif command == "codes":
                fig = infogan_figures.codes_figure(model, FLAGS.index, FLAGS.seed, run_title, **pixels)
            elif command == "slots":
                fig, shown = memory_figures.slots_figure(model, slots, FLAGS.seed, run_title, **pixels)
                print(f"rows: slots {', '.join(map(str, shown))}")
            elif command == "samples":
                images = vis.samples(model, FLAGS.num, FLAGS.seed)
                if FLAGS.out.endswith(".npz"):  # data, not a figure
                    np.savez_compressed(FLAGS.out, images=(np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8))
                else:
                    fig = vis.samples_figure(images, run_title, FLAGS.seed, **pixels)
            elif command == "neighbors":
                train = split(config, "train")[: FLAGS.subset]
                fig = memory_figures.neighbors_figure(model, train, FLAGS.seed, run_title,
                                                      progress=bar(len(train), "training images encoded"), **pixels)
            elif command == "posterior":
                test = split(config, "test")
                if not 0 <= FLAGS.index < len(test):
                    return fail(f"--index: {FLAGS.index} is outside the {len(test)} test images")
                fig, shown, probs = memory_figures.posterior_figure(
                    model, test[FLAGS.index], seed=FLAGS.seed, title=run_title,
                    query=f"query x: test image {FLAGS.index}")
                print("top slots: " + ", ".join(f"{s} ({p:.3f})" for s, p in zip(shown, probs)))
            elif command == "prior":
                fig, holding = memory_figures.prior_figure(model, title=run_title)
                print(f"{holding} slots hold 90 % of the prior")
            elif command == "likelihood":
                fig = memory_figures.likelihood_over_checkpoints(
                    run, config, split(config, "test")[: FLAGS.subset], epoch_steps(config), log=say,
                    progress=bar(len(run.checkpoint_files()), "checkpoints"), loaded=(checkpoint, model))
        if fig is not None:
            vis.save_figure(fig, FLAGS.out)
    except (ValueError, configs.ConfigError, data.DataError, OSError) as err:
        return fail(str(err).splitlines()[0])
    print(f"Wrote {FLAGS.out} ({command}, {checkpoint})")
    return 0


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="no figure was written")
