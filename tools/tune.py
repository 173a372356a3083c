"""Hyper-parameter search with keras-tuner, each trial a short run scored by FID.

    python tools/tune.py --dataset=fashion_mnist --directory=runs/tune --max_trials=10 \
        --search=kappa,mi_lambda,learning_rate,loss --out_flagfile=flags/tuned.flags
    python -m memorygan_tf.main --flagfile=flags/tuned.flags --logdir=runs/tuned

Searches every config field declared with a search space (memorygan_tf/configs.py and
the --model's own options.py: for MemoryGAN kappa, alpha, choose_k, memory_size, key_dim,
mi_lambda, learning_rate, loss and the training options), or the flags named by --search. Rerun the same command to continue
an interrupted search: keras-tuner's state and every trial's run directory (with its
checkpoints) live under --directory. Without --classifier the evaluation classifier is
trained once into DIRECTORY/classifier. --quick makes tiny trials (for tests).
A thin wrapper over memorygan_tf.tuning.
"""

import os
import sys

from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from memorygan_tf import cli, configs  # noqa: E402 - after the path; imports no TensorFlow

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist | mnist | affine_mnist (labelled test split needed).")
cli.define_option_flag("train", "data_path")  # main's flags, from their declarations
cli.define_option_flag("train", "data_dir")
flags.DEFINE_string("directory", None, "Tuner state, trial runs and the classifier go here.")
flags.DEFINE_string("project", "memorygan", "keras-tuner project name inside --directory.")
cli.define_option_flag("model", "model", "memorygan", "The GAN whose options are searched and trained: "
                       + ", ".join(configs.MODELS) + ".")
flags.DEFINE_enum("tuner", "random", ["random", "bayesian", "hyperband"], "keras-tuner search algorithm.")
flags.DEFINE_integer("max_trials", 10, "Trials (random, bayesian).")
# main's flags of every trial, from their declarations (a trial is a run of main's config)
cli.define_option_flag("train", "epochs", help_text="Training epochs per trial (hyperband: the most a trial gets).")
cli.define_option_flag("train", "steps_per_epoch", help_text="Steps per epoch of a trial (default: one pass over "
                       "the data).")
cli.define_option_flag("train", "eval_samples", help_text="Generated images scored per trial.")
cli.define_option_flag("train", "seed", help_text="Seed of the search and of every trial.")
flags.adopt_module_key_flags(cli)  # the flags defined through cli are this tool's (--help lists them)
flags.DEFINE_list("search", None, "Flags to search (default: every searchable field).")
flags.DEFINE_string("classifier", None, "Evaluation classifier folder (tools/train_classifier.py). "
                    "Default: DIRECTORY/classifier, trained on first use.")
flags.DEFINE_string("out_flagfile", None, "Where the best trial's flags go (default DIRECTORY/best.flags).")
flags.DEFINE_boolean("quick", False, "Tiny trials: 2 trials of 2 steps with small networks (for tests).")
flags.mark_flags_as_required(["directory"])

QUICK_MODEL = dict(f_dim=4, fc_dim=16)


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from memorygan_tf import data, evaluation, tuning
    from memorygan_tf.cli import fail

    if FLAGS.dataset not in ("fashion_mnist", "mnist", "affine_mnist"):
        return fail(f"--dataset: {FLAGS.dataset!r} has no labelled test split to score trials with")
    if FLAGS.max_trials <= 0:
        return fail(f"--max_trials: must be positive, got {FLAGS.max_trials}")
    quick = FLAGS.quick
    max_trials = 2 if quick and not FLAGS["max_trials"].present else FLAGS.max_trials
    steps = 2 if quick and FLAGS.steps_per_epoch is None else FLAGS.steps_per_epoch
    eval_samples = 100 if quick and not FLAGS["eval_samples"].present else FLAGS.eval_samples
    # what every trial shares; the trial's searched values go on top of it
    base = {"model": dict(QUICK_MODEL if quick else {}, model=FLAGS.model), "optimizer": {},
            "train": dict(seed=FLAGS.seed, epochs=FLAGS.epochs, steps_per_epoch=steps, eval_samples=eval_samples,
                          data_path=FLAGS.data_path, data_dir=FLAGS.data_dir, batch_size=16 if quick else 64,
                          checkpoint_every_steps=0 if quick else 250)}
    try:  # main's rules, checked before any trial trains
        configs.make_config(FLAGS.dataset, base["model"], base["optimizer"], base["train"])
    except configs.ConfigError as err:
        return fail(err)
    try:
        os.makedirs(FLAGS.directory, exist_ok=True)
    except OSError as err:
        return fail(f"--directory: cannot create {FLAGS.directory}: {err.strerror}")
    if not os.access(FLAGS.directory, os.W_OK):
        return fail(f"--directory: {FLAGS.directory} is not writable")
    try:
        space = tuning.search_space(FLAGS.search, FLAGS.model)
        path = data.resolve_data_path(FLAGS.dataset, FLAGS.data_path, data.default_search_path(os.environ))
        images = data.load_images(FLAGS.dataset, path, FLAGS.data_dir, seed=FLAGS.seed)
        x_train, y_train, x_test, y_test = data.load_labelled(FLAGS.dataset, path, FLAGS.data_dir, FLAGS.seed)
    except (configs.ConfigError, data.DataError) as err:
        return fail(err)
    if quick:
        x_test, y_test = x_test[:200], y_test[:200]

    classifier_dir = FLAGS.classifier or os.path.join(FLAGS.directory, "classifier")
    classifier_path = os.path.join(classifier_dir, "classifier.keras")
    if not os.path.exists(classifier_path):
        if FLAGS.classifier:
            return fail(f"--classifier: no classifier.keras in {FLAGS.classifier}")
        print(f"Training the evaluation classifier into {classifier_dir} ...", flush=True)
        limit = 512 if quick else len(x_train)
        accuracy = evaluation.train_classifier(
            x_train[:limit], y_train[:limit], x_test, y_test, classifier_dir, epochs=1 if quick else evaluation.CLASSIFIER_EPOCHS,
            width=4 if quick else 16, flip=FLAGS.dataset == "fashion_mnist", seed=FLAGS.seed,
            verbose=2 if quick or os.environ.get("CI") else cli.fit_verbose())
        print(f"Classifier test accuracy {accuracy:.4f}", flush=True)
    classifier = evaluation.load_classifier(classifier_path)

    base["train"]["data_path"] = path  # as resolved on the search path
    hypermodel = tuning.MemoryGANHyperModel(
        FLAGS.dataset, base, space, images, (x_test, y_test), classifier, epochs=FLAGS.epochs,
        eval_samples=eval_samples, verbose=2 if quick else cli.fit_verbose())  # one line per epoch in a log
    tuner = tuning.make_tuner(FLAGS.tuner, hypermodel, FLAGS.directory, FLAGS.project, max_trials,
                              max_epochs=FLAGS.epochs, seed=FLAGS.seed)
    tuner.search()

    best = tuning.best_trial(tuner)
    if best is None:
        return fail("no trial finished; see the messages above")
    values, score = best
    out = FLAGS.out_flagfile or os.path.join(FLAGS.directory, "best.flags")
    extra = [f"--data_path={os.path.abspath(path)}"] if path else []
    comment = [f"Best {FLAGS.model} of {FLAGS.tuner} search {os.path.join(FLAGS.directory, FLAGS.project)}: "
               f"FID {score:.4f}",
               f"after {FLAGS.epochs} epoch(s) of {steps or 'all'} steps per epoch"
               + (" with --quick's tiny networks (f_dim=4, fc_dim=16, batch 16)" if quick else "") + "."]
    tuning.write_flagfile(out, FLAGS.dataset, values, space, extra=extra, comment=comment, model=FLAGS.model)
    print(f"Best FID {score:.4f}: wrote {out}")
    return 0


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="finished trials are kept; rerun the same command to continue the search")
