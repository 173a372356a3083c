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

from memorygan_tf import configs

FLAGS = flags.FLAGS

# Two flags that are not config fields as such: the data set chooses the preset, and
# the default logdir depends on it.
flags.DEFINE_string("dataset", "fashion_mnist", " | ".join(configs.DATASETS) + " (chooses the preset).")
flags.DEFINE_string("logdir", None, "Run directory (TensorBoard, checkpoints, samples). Default runs/<dataset>.")


def define_config_flags():
    """One flag per config field declared with `configs.option` (name, type, help, choices).

    Model and optimizer flags default to None: unset, they take the data set's preset
    (configs.PRESETS), else the field's default, which their help states.
    """
    for section, name, flag, kind, field in configs.flag_fields():
        help_text = field.metadata["help"]
        default = field.default if section == "train" else None
        if section != "train":
            preset = "the data set's preset, else " if any(
                name in p.get(section, {}) for p in configs.PRESETS.values()) else ""
            help_text = f"{help_text} Default: {preset}{field.default}."
        choices = field.metadata["choices"]
        if kind is bool:
            flags.DEFINE_boolean(flag, default, help_text)
        elif choices is not None and kind is str:
            flags.DEFINE_enum(flag, default, list(choices), help_text)
        elif kind is int:
            flags.DEFINE_integer(flag, default, help_text)
        elif kind is float:
            flags.DEFINE_float(flag, default, help_text)
        else:
            flags.DEFINE_string(flag, default, help_text)


define_config_flags()


def config_from_flags(image_shape=None):
    """flags -> frozen ExperimentConfig (raises configs.ConfigError on bad values)."""
    overrides = {"model": {}, "optimizer": {}, "train": {}}
    for section, name, flag, _, _ in configs.flag_fields():
        overrides[section][name] = FLAGS[flag].value
    if image_shape is not None:
        overrides["model"]["image_shape"] = tuple(image_shape)
    overrides["train"]["logdir"] = FLAGS.logdir or os.path.join("runs", FLAGS.dataset)
    return configs.make_config(FLAGS.dataset, overrides["model"], overrides["optimizer"], overrides["train"])


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
        data_path = data.resolve_data_path(t.dataset, t.data_path, data.default_search_path(os.environ))
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
