"""Train MemoryGAN: `python -m memorygan_tf.main --dataset=fashion_mnist`.

Flags left unset take the release's value for the chosen data set (configs.PRESETS) and
--model (its declaration's presets).
Rerunning the same command resumes from the last checkpoint in --logdir.
`--flagfile=flags/<experiment>.flags` reproduces one row of the paper's Table 2.
"""

from __future__ import annotations

import os
import signal
import sys

from absl import app, flags

from memorygan_tf import cli, configs  # neither imports TensorFlow: cli.quiet_logging does, quietly
from memorygan_tf.cli import fail

FLAGS = flags.FLAGS

# Two flags that are not config fields as such: the data set chooses the preset, and
# the default logdir depends on it.
flags.DEFINE_string("dataset", "fashion_mnist", " | ".join(configs.DATASETS) + " (chooses the preset).")
flags.DEFINE_string("logdir", None, "Run directory (TensorBoard, checkpoints, samples). Default runs/<dataset>.")
flags.DEFINE_boolean("override_config", False, "On resume, apply given flags that change the model or the memory "
                     "(not their shapes) from the current step on; recorded in config.json.")


def define_config_flags():
    """One flag per config field declared with `configs.option` (name, type, help, choices).

    Model and optimizer flags default to None: unset, they take the preset of the data set
    (configs.PRESETS) and of --model (its declaration's), else the field's default, which
    their help states.
    """
    preset_fields = configs.preset_fields()
    for section, name, flag, kind, field in configs.flag_fields():
        help_text = field.metadata["help"]
        default = field.default if section == "train" else None
        if section != "train":
            preset = {("data set",): "the data set's preset, else ",
                      ("--model",): "--model's preset for the data set, else ",
                      ("data set", "--model"): "the data set's or --model's preset, else "}.get(
                preset_fields.get((section, name)), "")
            help_text = f"{help_text} Default: {preset}{field.default}."
        cli.define_option_flag(section, name, default, help_text)


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


def run():
    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from memorygan_tf import callbacks, data, hardware, rundir, trainer

    def terminate(signum, frame):  # SIGTERM (kill, cluster preemption): save like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    created = None
    try:
        if FLAGS.logdir is not None and not FLAGS.logdir.strip():
            raise configs.ConfigError("logdir", "is empty; give a folder, or leave the flag out for "
                                      f"runs/{FLAGS.dataset}")
        config = config_from_flags()  # validate flags before touching anything
        t = config.train
        hardware.check_fits_in_memory(config)
        if t.strategy == "multi_worker" and "TF_CONFIG" not in os.environ:
            raise configs.ConfigError("strategy", "multi_worker needs the TF_CONFIG environment variable")
        if t.data_path and not os.path.exists(t.data_path):
            raise configs.ConfigError("data_path", f"{t.data_path} does not exist")
        created = not os.path.exists(t.logdir)
        rundir.RunDir(t.logdir).check_writable()
        with rundir.RunDir(t.logdir).lock():
            config, changes, resumed = resume(config)
            t = config.train
            images = load_data(config)
            shape = tuple(images.shape[1:])
            if shape != tuple(config.model.image_shape):
                if t.dataset == "custom" and not resumed:
                    config = config_from_flags(image_shape=shape)
                else:
                    expects = "the resumed run" if resumed else t.dataset
                    raise configs.ConfigError(
                        "data_path", f"images are {shape}, but {expects} expects {tuple(config.model.image_shape)}")
            print(f"{len(images)} training images of shape {shape}; logdir {t.logdir}", flush=True)
            test_set = load_test_set(config) if t.eval_every_epochs else None
            created = False  # from here on the run directory holds the run
            trainer.train(config, images, changes=changes, test_set=test_set)
    except (configs.ConfigError, data.DataError, trainer.TrainingDiverged) as err:
        if created:
            rundir.RunDir(config_logdir()).remove_if_empty()
        return fail(str(err))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head and so on: the trainer saved what it had
        cli.silence_stdout()
        return cli.BROKEN_PIPE
    samples = rundir.RunDir(config.train.logdir).latest_sample()
    try:
        if samples:
            print(f"Samples: {samples}")
        print(f"Done. TensorBoard: tensorboard --logdir {config.train.logdir}", flush=True)
    except BrokenPipeError:
        cli.silence_stdout()
        return cli.BROKEN_PIPE
    return 0


def config_logdir():
    return FLAGS.logdir or os.path.join("runs", FLAGS.dataset)


def resume(config):
    """The resume contract (rundir.resume_config): (config, changes, resumed)."""
    from memorygan_tf import rundir

    run = rundir.RunDir(config.train.logdir)
    if not run.holds_checkpoints():
        return config, {}, False
    if not run.has_config():
        raise configs.ConfigError("logdir", f"{run.path} holds checkpoints but no {run.CONFIG}; "
                                  "cannot tell which settings they belong to")
    saved = run.load_config()  # configs.ConfigError naming the file if unreadable
    explicit = {(section, name) for section, name, flag, _, _ in configs.flag_fields() if FLAGS[flag].present}
    if FLAGS["dataset"].present:
        explicit.add(("train", "dataset"))
    config, changes = rundir.resume_config(saved, config, explicit, FLAGS.override_config)
    return config, changes, True


def load_test_set(config):
    """(x_test, y_test) for --eval_every_epochs, after checking the classifier exists."""
    from memorygan_tf import data

    t = config.train
    if not os.path.exists(os.path.join(t.eval_classifier, "classifier.keras")):
        raise configs.ConfigError("eval_classifier", f"no classifier.keras in {t.eval_classifier}; "
                                  "train one with tools/train_classifier.py")
    data_path = data.resolve_data_path(t.dataset, t.data_path, data.default_search_path(os.environ))
    _, _, x_test, y_test = data.load_labelled(t.dataset, data_path, t.data_dir, t.seed)
    return x_test, y_test


def load_data(config):
    from memorygan_tf import data

    t = config.train
    data_path = data.resolve_data_path(t.dataset, t.data_path, data.default_search_path(os.environ))
    if data_path and not t.data_path:
        print(f"Using the local copy {data_path} (pass --data_path to choose another file).", flush=True)
    print(f"Loading {t.dataset} from {data_path or 'TensorFlow Datasets'} ...", flush=True)
    return data.load_images(t.dataset, data_path, t.data_dir, seed=t.seed, image_size=t.image_size,
                            center_crop=t.center_crop)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    sys.exit(run())


def entry_point():
    app.run(main)


if __name__ == "__main__":
    entry_point()
