"""Generate images from a trained run or from its export: a PNG folder, an .npz, a grid.

    python tools/generate.py --logdir=runs/fashion_mnist --num_images=64 --out=samples/
    python tools/generate.py --logdir=runs/fashion_mnist --num_images=10000 --out=samples.npz
    python tools/generate.py --export_dir=exports/fashion_mnist --out=samples.npz
    python tools/generate.py --logdir=runs/fashion_mnist --control=slot=3,17,42 --grid=slots.png

Without --control the images come from the model's prior with --seed (by default the seed
every evaluation scores, so `tools/evaluate.py --samples=samples.npz` gives the run's
numbers). --control=NAME=V[,V...] fixes what the generator reads besides z: MemoryGAN's
memory slot (slot=), InfoGAN's categorical code (code=), MIC-GANs' mode (mode=); each value
gets --num_images images. A thin wrapper over memorygan_tf.generation.
"""

import contextlib
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memorygan_tf import configs  # noqa: E402 - after the path; imports no TensorFlow

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", None, "Run directory written by memorygan_tf.main.")
flags.DEFINE_string("export_dir", None, "A SavedModel written by tools/export_generator.py (instead of --logdir).")
flags.DEFINE_string("checkpoint", None, "With --logdir: a specific checkpoint (default: the newest that loads).")
flags.DEFINE_integer("num_images", 64, "Images to generate (per control value with --control).")
flags.DEFINE_integer("seed", configs.EVAL_SEED, "Seed of the noise and the controls (default: the evaluations').")
flags.DEFINE_string("control", None, "NAME=V[,V...]: generate at these values of a control (slot=, code=, mode=).")
flags.DEFINE_enum("weights", "auto", list(configs.GENERATOR_WEIGHTS), "With --logdir: the generator's moving average "
                  "(ema), its trained weights, or auto (the average where the run keeps one). An export serves "
                  "the weights it was exported with.")
flags.DEFINE_string("out", None, "A folder for PNGs, or a file ending in .npz (float32 images in [0, 1]).")
flags.DEFINE_string("grid", None, "Also write one labelled grid (.png): a row per control value (8 images each).")
flags.DEFINE_enum("z_distribution", None, ["uniform", "normal"], "With --export_dir: the noise prior, only for an "
                  "export older than its noise endpoint.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing --out.")

MAX_IMAGES = 1_000_000


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from memorygan_tf import generation, rundir
    from memorygan_tf.cli import fail

    if (FLAGS.logdir is None) == (FLAGS.export_dir is None):
        return fail("--logdir: give a run directory (--logdir) or an export (--export_dir), one of the two")
    if not FLAGS.out and not FLAGS.grid:
        return fail("--out: nothing to write; give --out (a folder or FILE.npz) and/or --grid (FILE.png)")
    if not 1 <= FLAGS.num_images <= MAX_IMAGES:
        return fail(f"--num_images: must lie in [1, {MAX_IMAGES:,}], got {FLAGS.num_images}")
    if FLAGS.grid and (not FLAGS.grid.endswith(".png")
                       or not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.grid)))):
        return fail(f"--grid: {FLAGS.grid} must be a .png in an existing folder")
    try:
        control, values = generation.parse_control(FLAGS.control)
        if FLAGS.out:
            generation.check_output(FLAGS.out, FLAGS.overwrite)
        if FLAGS.logdir:
            model, checkpoint = rundir.RunDir(FLAGS.logdir).load_model(FLAGS.checkpoint)
            source = checkpoint
            generation.check_control(control, values, model.controls, model.config.model)
            weights = model.generator_weights(FLAGS.weights)  # refuses ema of a run without an average

            def make(value):
                return generation.generate(model, FLAGS.num_images, FLAGS.seed, control, value)

            title = f"{model.config.model}, {FLAGS.logdir}, step {int(model.step.numpy())}"
        else:
            import tensorflow as tf

            if not os.path.isfile(os.path.join(FLAGS.export_dir, "saved_model.pb")):
                return fail(f"--export_dir: {FLAGS.export_dir} holds no SavedModel (no saved_model.pb)")
            loaded = tf.saved_model.load(FLAGS.export_dir)
            source = FLAGS.export_dir

            def make(value):
                return generation.generate_from_export(loaded, FLAGS.num_images, FLAGS.seed, control, value,
                                                       FLAGS.z_distribution)

            weights = contextlib.nullcontext(None)  # an export serves the weights it was exported with
            title = f"export {FLAGS.export_dir}"
        import numpy as np

        progress = None
        if len(values) > 1:
            from keras.utils import Progbar
            progress = Progbar(len(values), unit_name="control value")
        rows = []
        with weights as used:
            for i, value in enumerate(values):
                rows.append(make(value))
                if progress is not None:
                    progress.update(i + 1)
        if used is not None:
            title = f"{title}, {'moving average' if used == 'ema' else 'trained weights'}"
    except (configs.ConfigError, OSError) as err:
        return fail(err)
    images = np.concatenate(rows)
    labels = np.repeat(values, FLAGS.num_images) if control else None
    if FLAGS.out:
        written = generation.write_images(images, FLAGS.out, labels, control)
        print(f"Wrote {len(images)} images from {source} to {FLAGS.out}"
              + (f" ({len(written)} PNGs)" if not FLAGS.out.endswith(".npz") else ""))
    if FLAGS.grid:
        row_labels = [f"{control} {v}" for v in values] if control else ["prior"]
        fig = generation.grid_figure([r[:8] for r in rows], row_labels, title)
        fig.savefig(FLAGS.grid, dpi=100)
        print(f"Wrote {FLAGS.grid}")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
