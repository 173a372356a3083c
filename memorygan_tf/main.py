"""Train MemoryGAN: `python -m memorygan_tf.main --dataset=fashion_mnist`.

Flags left unset take the release's value for the chosen data set (configs.PRESETS).
Rerunning the same command resumes from the last checkpoint in --logdir.
`--flagfile=flags/<experiment>.flags` reproduces one row of the paper's Table 2.
"""

from __future__ import annotations

import os
import signal
import sys

from absl import app, flags

FLAGS = flags.FLAGS

# Data and run.
flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist | mnist | affine_mnist | cifar10 | custom")
flags.DEFINE_string("data_path", None, "Local data instead of TFDS: .npz, IDX file (*-ubyte[.gz]) or folder. "
                    "Default: <dataset>.npz from $MEMORYGAN_DATA_DIR, ./data or ../shared/data, else TFDS.")
flags.DEFINE_string("data_dir", None, "TensorFlow Datasets data_dir.")
flags.DEFINE_string("logdir", None, "Run directory (TensorBoard, checkpoints, samples). Default runs/<dataset>.")
flags.DEFINE_integer("epochs", 1, "Training epochs.")
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass over the data).")
flags.DEFINE_integer("batch_size", 64, "Global batch size, split over replicas.")
flags.DEFINE_integer("seed", 0, "Seed of data order, noise and memory sampling.")
flags.DEFINE_enum("strategy", "auto", ["auto", "default", "mirrored", "multi_worker"], "Distribution strategy.")
flags.DEFINE_boolean("deterministic", False, "Op determinism (exactly reproducible, slower).")
flags.DEFINE_boolean("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_integer("checkpoint_every_steps", 0, "Also checkpoint every N steps (0: only at epoch ends).")
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.")
flags.DEFINE_integer("log_every_steps", 50, "TensorBoard scalar interval.")
flags.DEFINE_integer("num_sample_images", 64, "Images in the sample grid.")
# Model (None: the data set's preset).
flags.DEFINE_integer("z_dim", None, "Noise dimension.")
flags.DEFINE_integer("key_dim", None, "Memory key / query dimension M.")
flags.DEFINE_integer("memory_size", None, "Memory slots N.")
flags.DEFINE_integer("choose_k", None, "Top-k slots k.")
flags.DEFINE_float("alpha", None, "Histogram decay of the EM update.")
flags.DEFINE_float("beta", None, "Prior smoothing constant.")
flags.DEFINE_float("kappa", None, "vMF concentration.")
flags.DEFINE_float("eps", None, "Clip of the discriminator output.")
flags.DEFINE_enum("update_rule", None, ["em", "release", "kaiser"], "Memory write rule (kaiser = '- EM').")
flags.DEFINE_integer("em_iterations", None, "EM iterations T per write.")
flags.DEFINE_integer("correct_in_top", None, "Reset unless one of the top-n slots has the right label.")
flags.DEFINE_boolean("fill_empty", None, "Reset-write into empty slots first (False: as the release).")
flags.DEFINE_enum("batch_write", None, ["sum", "last"],
                  "How a batch's writes to one slot combine: sum (EM statistics summed) or last (the release).")
flags.DEFINE_integer("writes_per_step", None, "Memory writes per iteration: 1 (Algorithm 1) or 3 (the release).")
flags.DEFINE_integer("f_dim", None, "Base number of conv filters.")
flags.DEFINE_integer("fc_dim", None, "Width of the generator's first dense layer (28x28 nets).")
flags.DEFINE_boolean("use_memory", None, "False: the '- Memory' plain DCGAN ablation.")
flags.DEFINE_boolean("use_mcgn", None, "False: the '- MCGN' ablation (generator reads z only).")
flags.DEFINE_enum("loss", None, ["jsd", "alternative", "reverse_kl"], "GAN loss.")
flags.DEFINE_float("mi_lambda", None, "Weight lambda of the mutual-information term.")
flags.DEFINE_enum("z_distribution", None, ["uniform", "normal"], "Noise prior.")
flags.DEFINE_enum("architecture", None, ["auto", "dcgan28", "dcgan40", "resnet32"], "Networks (auto: by image size).")
flags.DEFINE_enum("output_activation", None, ["sigmoid", "tanh"], "Generator output / pixel range.")
flags.DEFINE_boolean("sync_batch_norm", None, "Batch-norm statistics over the global batch.")
flags.DEFINE_float("learning_rate", None, "Adam learning rate.")
flags.DEFINE_float("beta1", None, "Adam beta_1.")
flags.DEFINE_float("beta2", None, "Adam beta_2.")
flags.DEFINE_enum("lr_decay", None, ["none", "linear"], "Learning-rate schedule.")

MODEL_FLAGS = ("z_dim", "key_dim", "memory_size", "choose_k", "alpha", "beta", "kappa", "eps",
               "update_rule", "em_iterations", "correct_in_top", "fill_empty", "batch_write",
               "writes_per_step", "f_dim", "fc_dim", "use_memory",
               "use_mcgn", "loss", "mi_lambda", "z_distribution", "architecture",
               "output_activation", "sync_batch_norm")
TRAIN_FLAGS = ("data_path", "data_dir", "epochs", "steps_per_epoch", "batch_size", "seed", "strategy",
               "deterministic", "jit_compile", "checkpoint_every_steps", "keep_checkpoints",
               "log_every_steps", "num_sample_images")


def config_from_flags(image_shape=None):
    """flags -> frozen ExperimentConfig (raises configs.ConfigError on bad values)."""
    from memorygan_tf import configs

    model = {name: FLAGS[name].value for name in MODEL_FLAGS}
    if image_shape is not None:
        model["image_shape"] = tuple(image_shape)
    optimizer = dict(learning_rate=FLAGS.learning_rate, beta_1=FLAGS.beta1, beta_2=FLAGS.beta2,
                     lr_decay=FLAGS.lr_decay)
    train = {name: FLAGS[name].value for name in TRAIN_FLAGS}
    train["logdir"] = FLAGS.logdir or os.path.join("runs", FLAGS.dataset)
    return configs.make_config(FLAGS.dataset, model, optimizer, train)


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


def run():
    import logging as pylogging

    from absl import logging

    from memorygan_tf import configs, data, trainer

    if FLAGS.verbosity == 0:  # absl's default (INFO): keep TF's INFO lines out of the output
        logging.set_verbosity(logging.WARNING)
        pylogging.getLogger("tensorflow").setLevel(pylogging.WARNING)

    def terminate(signum, frame):  # SIGTERM (kill, cluster preemption): save like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        config = config_from_flags()  # validate flags before loading anything
        t = config.train
        if t.data_path and not os.path.exists(t.data_path):
            raise configs.ConfigError("data_path", f"{t.data_path} does not exist")
        data_path = data.resolve_data_path(t.dataset, t.data_path)
        if data_path and not t.data_path:
            print(f"Using the local copy {data_path} (pass --data_path to choose another file).", flush=True)
        print(f"Loading {t.dataset} from {data_path or 'TensorFlow Datasets'} ...", flush=True)
        images = data.load_images(t.dataset, data_path, t.data_dir, seed=t.seed)
        shape = tuple(images.shape[1:])
        if t.dataset == "custom":
            config = config_from_flags(image_shape=shape)
        elif shape != tuple(config.model.image_shape):
            raise configs.ConfigError(
                "data_path", f"images are {shape}, but {t.dataset} expects {tuple(config.model.image_shape)}"
            )
        print(f"{len(images)} training images of shape {shape}; logdir {t.logdir}", flush=True)
        trainer.train(config, images)
    except (configs.ConfigError, data.DataError, trainer.TrainingDiverged) as err:
        return fail(str(err))
    except KeyboardInterrupt:
        return 130
    print(f"Done. TensorBoard: tensorboard --logdir {config.train.logdir}")
    return 0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    sys.exit(run())


def entry_point():
    app.run(main)


if __name__ == "__main__":
    entry_point()
