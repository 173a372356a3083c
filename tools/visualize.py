"""The paper's figures from a run directory, one command each.

    python tools/visualize.py SUBCOMMAND --logdir=RUN --out=FILE.png

Subcommands:
  interpolate  Figs. 1 and 6: 8x8 interpolation of z with a fixed slot (and, for a
               MemoryGAN run, of keys mapped to their argmax-posterior slot); with
               --logdir2 the second run's z interpolation is put beside (e.g. a DCGAN).
  posterior    Fig. 3b: p(c|x) over the top slots of test image --index, with samples.
  prior        Fig. 3c: the MCGN prior p(c) ~ h v, sorted; slots holding 90 % of it.
  likelihood   Fig. 3a: mean test log-likelihood over the run's checkpoints.
  neighbors    Fig. 5: generated images and their nearest training images (query cosine).
  slots        One row per slot (most probable first, or --slots=3,17,...), z along rows.
  samples      --num images as a PNG grid, or an .npz (--out=FILE.npz) for outside scoring.
  clusters     Samples per cluster (MIC-GANs' Fig. 1): a row per cluster, the --num heaviest
               (MemoryGAN: slots by the prior h v; InfoGAN: code values), noise along rows.
  codes        InfoGAN runs (Chen et al. 2016, Fig. 2): one row per value of the categorical
               code, continuous code --index from -1 to 1 along the rows.
A run offers the figures its model declares (GAN.figures); another is refused in one
line naming the model. A thin wrapper over memorygan_tf.visualize and the models'
figures modules (models/memorygan/figures.py, models/infogan/figures.py).
"""

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
flags.DEFINE_integer("scale", 2, "Upscaling of PNG image grids.")
flags.DEFINE_integer("subset", 10000, "neighbors / likelihood: images of the data used.")
flags.mark_flags_as_required(["logdir", "out"])


def main(argv):
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
    try:
        config = run.load_config()
        model, checkpoint = run.load_model(FLAGS.checkpoint, config=config)

        def split(name):
            path = data.resolve_data_path(config.train.dataset, FLAGS.data_path or config.train.data_path,
                                          data.default_search_path(os.environ))
            if name == "train":
                return data.load_images(config.train.dataset, path, config.train.data_dir, config.train.seed)
            return data.load_labelled(config.train.dataset, path, config.train.data_dir, config.train.seed)[2]

        if command not in model.figures:
            raise ValueError(f"{command} is not a figure of a {type(model).__name__} run; it offers "
                             f"{', '.join(model.figures)}")
        if command == "interpolate":
            parts = [vis.interpolate_z(model, FLAGS.seed, slots[0] if slots else None)]
            if "slots" in model.figures:  # a MemoryGAN whose generator reads keys: Fig. 1 beside
                parts.append(memory_figures.interpolate_keys(model, FLAGS.seed, slots)[0])
            if FLAGS.logdir2:
                other, _ = rundir.RunDir(FLAGS.logdir2).load_model()
                parts.append(vis.interpolate_z(other, FLAGS.seed))
            gap = np.ones((parts[0].shape[0], 8, parts[0].shape[2]), np.float32)
            vis.save_png(np.concatenate(sum([[p, gap] for p in parts], [])[:-1], axis=1), FLAGS.out, FLAGS.scale)
        elif command == "clusters":
            grid, shown = vis.clusters_grid(model, FLAGS.num if FLAGS["num"].present else 10, seed=FLAGS.seed)
            vis.save_png(grid, FLAGS.out, FLAGS.scale)
            print(f"rows: clusters {', '.join(map(str, shown))}")
        elif command == "codes":
            vis.save_png(infogan_figures.codes_grid(model, FLAGS.index, seed=FLAGS.seed), FLAGS.out, FLAGS.scale)
        elif command == "slots":
            grid, shown = memory_figures.slots_grid(model, slots, seed=FLAGS.seed)
            vis.save_png(grid, FLAGS.out, FLAGS.scale)
            print(f"rows: slots {', '.join(map(str, shown))}")
        elif command == "samples":
            images = vis.samples(model, FLAGS.num, FLAGS.seed)
            if FLAGS.out.endswith(".npz"):
                np.savez_compressed(FLAGS.out, images=(np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8))
            else:
                vis.save_png(vis.tile(images, int(np.ceil(np.sqrt(len(images))))), FLAGS.out, FLAGS.scale)
        elif command == "neighbors":
            train = split("train")[: FLAGS.subset]
            vis.save_png(memory_figures.nearest_neighbors(model, train, seed=FLAGS.seed), FLAGS.out, FLAGS.scale)
        elif command == "posterior":
            test = split("test")
            if not 0 <= FLAGS.index < len(test):
                return fail(f"--index: {FLAGS.index} is outside the {len(test)} test images")
            fig, shown, probs = memory_figures.posterior_figure(model, test[FLAGS.index], seed=FLAGS.seed)
            fig.savefig(FLAGS.out, dpi=100)
            print("top slots: " + ", ".join(f"{s} ({p:.3f})" for s, p in zip(shown, probs)))
        elif command == "prior":
            fig, holding = memory_figures.prior_figure(model)
            fig.savefig(FLAGS.out, dpi=100)
            print(f"{holding} slots hold 90 % of the prior")
        elif command == "likelihood":
            test = split("test")[: FLAGS.subset]
            found = sorted(run.checkpoint_files())
            steps, values = [], []
            for step, prefix in found:
                try:
                    loaded, _ = run.load_model(prefix, config=config)
                except configs.ConfigError as err:
                    print(f"skipped {prefix}: {err}")
                    continue
                steps.append(step)
                values.append(memory_figures.mean_log_likelihood(loaded, test))
                print(f"step {step}: mean log p(x) {values[-1]:.4f}")
            memory_figures.likelihood_figure(steps, values).savefig(FLAGS.out, dpi=100)
    except (ValueError, configs.ConfigError, data.DataError, OSError) as err:
        return fail(str(err).splitlines()[0])
    print(f"Wrote {FLAGS.out} ({command}, {checkpoint})")
    return 0


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="no figure was written")
