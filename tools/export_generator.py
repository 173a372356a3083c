"""Export a trained run's generator as a TF SavedModel for serving.

    python tools/export_generator.py --logdir=runs/fashion_mnist --export_dir=exports/fashion_mnist

Says each step as it starts (loading the checkpoint, tracing each signature, writing,
verifying the written SavedModel against the generator). A thin wrapper over
memorygan_tf.export.export_from_logdir.
"""

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memorygan_tf import configs  # noqa: E402 - after the path; imports no TensorFlow

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", None, "Run directory written by memorygan_tf.main.")
flags.DEFINE_string("export_dir", None, "Where to write the SavedModel.")
flags.DEFINE_string("checkpoint", None, "A specific checkpoint (default: the newest in --logdir that loads).")
flags.DEFINE_boolean("overwrite", False, "Replace a non-empty --export_dir.")
flags.DEFINE_enum("weights", "auto", list(configs.GENERATOR_WEIGHTS), "Generator weights served: ema (the moving "
                  "average, --g_ema_decay), trained, or auto (the average where the run keeps one).")
flags.mark_flags_as_required(["logdir", "export_dir"])


def say(message):
    print(message, flush=True)  # each step as it starts, also when stdout is a pipe


def main(argv):
    del argv
    from memorygan_tf import cli

    say(f"Exporting the generator of {FLAGS.logdir} to {FLAGS.export_dir}: importing TensorFlow ...")
    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from memorygan_tf import configs, export

    try:
        checkpoint = export.export_from_logdir(FLAGS.logdir, FLAGS.export_dir, FLAGS.checkpoint,
                                               overwrite=FLAGS.overwrite, log=say, weights=FLAGS.weights)
    except (configs.ConfigError, OSError) as err:
        return cli.fail(err)
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(FLAGS.export_dir)
               for f in files)
    print(f"Exported {checkpoint} to {FLAGS.export_dir} ({size / 2**20:.1f} MiB).")
    print(f"Inspect: saved_model_cli show --dir {FLAGS.export_dir} --all")
    return 0


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="an earlier export in --export_dir is whole (the new one was not moved in)")
