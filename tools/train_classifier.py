"""Train the evaluation classifier whose outputs define IS and FID (paper Table 3 protocol).

    python tools/train_classifier.py --dataset=fashion_mnist --out=classifiers/fashion_mnist

Writes OUT/classifier.keras and OUT/classifier.json (test accuracy, settings). Rerunning
after an interruption resumes from the last finished epoch. A thin wrapper over
memorygan_tf.evaluation.train_classifier.
"""

import json
import os
import sys
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist | mnist | affine_mnist")
flags.DEFINE_string("data_path", None, "An .npz with x_train, y_train, x_test, y_test "
                    "(default: <dataset>.npz on the local search path, else TFDS).")
flags.DEFINE_string("data_dir", None, "TensorFlow Datasets data_dir.")
flags.DEFINE_string("out", None, "Output folder (default classifiers/<dataset>).")
flags.DEFINE_integer("epochs", None, "Training epochs (default evaluation.CLASSIFIER_EPOCHS, 12: test "
                     "accuracy 0.9319 on Fashion-MNIST, docs/RESULTS.md).")
flags.DEFINE_integer("width", 16, "Filters of the first ResNet stage.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_boolean("reference_only", False, "Do not train: score the real test set with the existing "
                     "classifier in --out (IS of real images, FID between test halves) and record it.")
flags.DEFINE_boolean("overwrite", False, "Replace a finished classifier in --out (it stays whole until the new one "
                     "is trained: training goes into OUT.retrain and is swapped in at the end).")
flags.DEFINE_integer("limit", 0, "Use only the first N training and test images (0: all; for smoke tests).")


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from memorygan_tf import data, evaluation, hardware
    from memorygan_tf.cli import fail

    epochs = evaluation.CLASSIFIER_EPOCHS if FLAGS.epochs is None else FLAGS.epochs
    if epochs <= 0 or FLAGS.width <= 0 or FLAGS.batch_size <= 0 or FLAGS.limit < 0:
        return fail("--epochs, --width and --batch_size must be positive, --limit >= 0")
    out = FLAGS.out or os.path.join("classifiers", FLAGS.dataset)
    if os.path.exists(out) and not os.path.isdir(out):
        return fail(f"--out: {out} is a file; give the folder the classifier goes into")
    refused = cli.check_output(out, "out")
    if refused:
        return fail(refused)
    settings = dict(dataset=FLAGS.dataset, width=FLAGS.width, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
                    epochs=epochs, limit=FLAGS.limit)
    final = out  # where the classifier ends up; `out` is where it trains
    if not FLAGS.reference_only and finished(out):
        if not FLAGS.overwrite:
            return fail(f"--out: {out} holds a finished classifier ({describe(out)}); pass --overwrite to replace "
                        "it (scores made with it would change), or choose another folder")
        out = f"{final.rstrip(os.sep)}.retrain"  # trained beside it, swapped in at the end
    cli.remove_stale_siblings(final)
    if not FLAGS.reference_only:
        refused = resume_mismatch(out, settings)
        if refused:
            return fail(refused)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as err:
        return fail(f"--out: cannot create {out}: {err.strerror or err}")
    if not os.access(out, os.W_OK):
        return fail(f"--out: {out} is not writable")
    try:
        path = data.resolve_data_path(FLAGS.dataset, FLAGS.data_path, data.default_search_path(os.environ))
        x_train, y_train, x_test, y_test = data.load_labelled(FLAGS.dataset, path, FLAGS.data_dir, FLAGS.seed)
    except data.DataError as err:
        return fail(err)
    if FLAGS.limit:
        x_train, y_train, x_test, y_test = (a[:FLAGS.limit] for a in (x_train, y_train, x_test, y_test))
    if len(x_test) < MIN_TEST_IMAGES:  # the Inception Score's 10 splits of the real test images
        return fail(f"--{'limit' if FLAGS.limit else 'data_path'}: {len(x_test)} test images; the reference scores "
                    f"of real images need at least {MIN_TEST_IMAGES}")
    if len(x_train) < FLAGS.batch_size and not FLAGS.reference_only:  # --reference_only trains nothing
        return fail(f"--batch_size: {FLAGS.batch_size} is more than the {len(x_train)} training images")
    record_path = os.path.join(out, "classifier.json")
    if FLAGS.reference_only:
        if not os.path.exists(record_path):
            return fail(f"--out: no classifier in {out}")
        with open(record_path) as f:
            record = json.load(f)
    else:
        print(f"Training the {FLAGS.dataset} classifier on {len(x_train)} images ({path or 'TFDS'}) -> {out}",
              flush=True)
        start = time.time()
        write_json(os.path.join(out, TRAINING_RECORD), settings)  # what a resume must match
        try:
            accuracy = evaluation.train_classifier(
                x_train, y_train, x_test, y_test, out, epochs=epochs, batch_size=FLAGS.batch_size,
                flip=FLAGS.dataset == "fashion_mnist", width=FLAGS.width, seed=FLAGS.seed,
                verbose=2 if os.environ.get("CI") else cli.fit_verbose())
        except ValueError as err:  # a backup of other settings (written before they were recorded)
            if not os.path.isdir(os.path.join(out, "backup")):
                raise
            return fail(f"--out: the half-trained classifier in {os.path.join(out, 'backup')} does not match these "
                        f"settings ({str(err).splitlines()[0][:100]}); rerun with its --width/--dataset, or "
                        "remove that backup folder to start again")
        record = dict(dataset=FLAGS.dataset, data=path or "tfds", test_accuracy=accuracy, epochs=epochs,
                      width=FLAGS.width, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
                      train_images=len(x_train), test_images=len(x_test), seconds=round(time.time() - start, 1),
                      machine=hardware.machine_info())
    # The metrics' scale on real data: IS of the real test images, FID between test halves.
    classifier = evaluation.load_classifier(os.path.join(out, "classifier.keras"))
    record["real_test_reference"] = evaluation.real_data_reference(classifier, x_test)
    write_json(record_path, record)  # last: a folder with classifier.json holds a finished classifier
    if out != final:
        cli.replace_folder(out, final)  # the earlier classifier stays whole until this one is in place
    print(f"Real test images: {record['real_test_reference']}")
    print(f"Test accuracy {record['test_accuracy']:.4f}; wrote {os.path.join(final, 'classifier.keras')}")
    return 0


MIN_TEST_IMAGES = 20  # IS over 10 splits, FID between two halves
TRAINING_RECORD = "training.json"  # the settings of a training in progress, checked on resume


def write_json(path, value):
    """Writes `path` atomically (a temporary file renamed over it): interrupted, the old one stays."""
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=2)
    os.replace(path + ".tmp", path)


def finished(folder):
    return os.path.isfile(os.path.join(folder, "classifier.json")) and os.path.isfile(
        os.path.join(folder, "classifier.keras"))


def describe(folder):
    try:
        with open(os.path.join(folder, "classifier.json")) as f:
            record = json.load(f)
        return f"{record.get('dataset', '?')}, test accuracy {record.get('test_accuracy', float('nan')):.4f}"
    except (OSError, ValueError, TypeError, AttributeError):
        return "its classifier.json is unreadable"


def resume_mismatch(folder, settings):
    """None, or the one-line refusal to resume the half-trained classifier in `folder` (its
    backup/) with other settings than it was started with (training.json)."""
    if not os.path.isdir(os.path.join(folder, "backup")):
        return None
    try:
        with open(os.path.join(folder, TRAINING_RECORD)) as f:
            started = json.load(f)
    except (OSError, ValueError):
        return None  # started before the settings were recorded: a mismatch shows when it loads
    changed = [f"--{k}={settings[k]} (started with {started[k]})" for k in settings
               if k in started and started[k] != settings[k]]
    if not changed:
        return None
    return (f"--out: {folder} holds a half-trained classifier started with other settings: {', '.join(changed)}; "
            f"rerun with its settings to finish it, or remove {os.path.join(folder, 'backup')} to start again")


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="rerun the same command to resume from the last finished epoch "
                 "(a finished classifier in --out is untouched)")
