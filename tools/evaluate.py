"""Score a training run: Inception Score, FID and memory health at its latest checkpoint.

    python tools/evaluate.py --logdir=runs/fashion_mnist --classifier=classifiers/fashion_mnist

Prints the numbers, writes them as JSON (--out, default LOGDIR/eval/step_<step>.json) and
as TensorBoard scalars `eval/*` (with the run's hyper-parameters on the HParams
dashboard). A thin wrapper over memorygan_tf.evaluation.
"""

import dataclasses
import json
import os
import sys
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memorygan_tf import configs  # noqa: E402 - after the path; imports no TensorFlow

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", None, "Run directory written by memorygan_tf.main.")
flags.DEFINE_string("checkpoint", None, "A specific checkpoint (default: the latest in --logdir).")
flags.DEFINE_string("classifier", None, "Folder with classifier.keras (tools/train_classifier.py); "
                    "default classifiers/<dataset>.")
flags.DEFINE_string("data_path", None, "An .npz with x_test, y_test (default: the run's data or the local copy).")
flags.DEFINE_integer("num_samples", configs.PAPER_EVAL_SAMPLES, "Generated images scored (the paper's "
                     "Table 2: 64,000).")
flags.DEFINE_integer("splits", 10, "Inception Score splits.")
flags.DEFINE_integer("seed", configs.EVAL_SEED, "Seed of the generated images.")
flags.DEFINE_string("out", None, "JSON output (default LOGDIR/eval/step_<step>.json).")
flags.DEFINE_float("prior_temperature", None, "Score MemoryGAN with its MCGN drawing slots from (h v)^(1/T) "
                   "(default: the run's T, 1 in the paper): e.g. 2 samples a flatter prior from the same "
                   "checkpoint. Scores go to LOGDIR/eval/prior_temperature_<T>/ unless --out says otherwise.")
flags.DEFINE_boolean("tensorboard", True, "Also write eval/* scalars and HParams into LOGDIR/eval.")
flags.mark_flags_as_required(["logdir"])


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from memorygan_tf import data, evaluation, hardware, rundir, summaries
    from memorygan_tf.cli import fail

    if FLAGS.num_samples < FLAGS.splits or FLAGS.splits <= 0:
        return fail("--num_samples must be at least --splits, and --splits positive")
    if not os.path.exists(os.path.join(FLAGS.logdir, "config.json")):
        return fail(f"--logdir: {FLAGS.logdir} is not a run directory (no config.json)")
    try:
        config = configs.with_prior_temperature(rundir.load_run_config(FLAGS.logdir), FLAGS.prior_temperature)
    except configs.ConfigError as err:
        return fail(err)
    # A changed temperature is another experiment: its scores and scalars get their own folder.
    eval_dir = os.path.join(FLAGS.logdir, "eval")
    if FLAGS.prior_temperature is not None:
        eval_dir = os.path.join(eval_dir, f"prior_temperature_{config.model.prior_temperature:g}")
    classifier_dir = FLAGS.classifier or os.path.join("classifiers", config.train.dataset)
    classifier_path = os.path.join(classifier_dir, "classifier.keras")
    for needed in (classifier_path, os.path.join(classifier_dir, "classifier.json")):
        if not os.path.isfile(needed):
            return fail(f"--classifier: no {needed}; train one with tools/train_classifier.py")
    try:
        with open(os.path.join(classifier_dir, "classifier.json")) as f:
            classifier_record = json.load(f)
        if not isinstance(classifier_record, dict):
            raise ValueError(f"expected an object, got {type(classifier_record).__name__}")
    except (OSError, ValueError) as err:
        return fail(f"--classifier: {os.path.join(classifier_dir, 'classifier.json')} is unreadable ({err}); "
                    "train the classifier again with tools/train_classifier.py")
    if FLAGS.out is not None:  # checked before the scoring, so the scores cannot be lost
        out_folder = os.path.dirname(os.path.abspath(FLAGS.out))
        if os.path.isdir(FLAGS.out):
            return fail(f"--out: {FLAGS.out} is a folder; give a file name, e.g. {FLAGS.out}/scores.json")
        if not os.path.isdir(out_folder) or not os.access(out_folder, os.W_OK):
            return fail(f"--out: cannot write into {out_folder} (missing or read-only)")
    try:
        classifier = evaluation.load_classifier(classifier_path)
    except Exception as err:  # noqa: BLE001 - any way a saved Keras model can fail to load
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        return fail(f"--classifier: {classifier_path} does not load ({reason}); train it again "
                    "with tools/train_classifier.py")
    try:
        path = data.resolve_data_path(config.train.dataset, FLAGS.data_path or config.train.data_path,
                                       data.default_search_path(os.environ))
        _, _, x_test, y_test = data.load_labelled(config.train.dataset, path, config.train.data_dir,
                                                  config.train.seed)
        model, checkpoint = rundir.load_trained_model(FLAGS.logdir, FLAGS.checkpoint, config=config)
    except (data.DataError, configs.ConfigError, OSError) as err:
        return fail(str(err))
    start = time.time()

    def progress(done, total):
        print(f"\r  scoring generated images {done}/{total}", end="", flush=True)

    result = evaluation.evaluate_model(model, classifier, x_test, y_test, FLAGS.num_samples, FLAGS.splits,
                                       FLAGS.seed, progress=progress)
    print()
    result["classifier"] = dict(classifier_record, path=os.path.abspath(classifier_path))
    result["config"] = dataclasses.asdict(config)  # the run's full config, with the scores
    result.update(checkpoint=checkpoint, seconds=round(time.time() - start, 1), machine=hardware.machine_info())
    if configs.uses_memory(config.model):
        result["prior_temperature"] = config.model.prior_temperature
    out = FLAGS.out or os.path.join(eval_dir, f"step_{result['step']:08d}.json")
    try:  # the scores first: nothing after this may lose them
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out + ".tmp", "w") as f:
            json.dump(result, f, indent=2)
        os.replace(out + ".tmp", out)
    except OSError as err:
        print(json.dumps(result))
        return fail(f"--out: cannot write {out} ({err.strerror or err}); the scores are printed above")
    if FLAGS.tensorboard:
        summaries.write_evaluation(eval_dir, config, result)
    shown = {k: v for k, v in result.items() if isinstance(v, (int, float)) and k != "seconds"}
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    if "ema" in result:
        print("moving average of the generator: " + " ".join(
            f"{k}={v:.4g}" for k, v in result["ema"].items() if isinstance(v, float)))
    print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="no scores were written; rerun the same command")
