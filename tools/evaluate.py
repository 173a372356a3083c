"""Score a training run, or images you bring: Inception Score, FID, KID, precision/recall.

    python tools/evaluate.py --logdir=runs/fashion_mnist --classifier=classifiers/fashion_mnist
    python tools/evaluate.py --samples=samples.npz --dataset=fashion_mnist --classifier=classifiers/fashion_mnist
    python tools/evaluate.py --samples=cifar_samples/ --dataset=cifar10 --feature_network=inception

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
flags.DEFINE_boolean("tensorboard", True, "Also write eval/* scalars and HParams into LOGDIR/eval (by default "
                     "only when the scores go there too: an --out elsewhere leaves the run's TensorBoard as it is).")
flags.DEFINE_boolean("allow_mismatch", False, "Score with a --classifier or a --data_path test set of another data "
                     "set than the run's (refused otherwise: e.g. an MNIST classifier calls every Fashion image one "
                     "class, and FID against digits measures nothing the run learned).")
flags.DEFINE_string("samples", None, "Score images you bring instead of a run: an .npz (key images, x or x_train; "
                    "uint8, floats in [0, 1] or [0, 255]) or a folder of PNG/JPEG images, against --dataset's test "
                    "split with the same scores as a run (IS, FID, KID, precision/recall).")
flags.DEFINE_string("dataset", None, "With --samples: the data set whose test split is the reference "
                    "(fashion_mnist, mnist, affine_mnist, cifar10, or custom with --data_path).")
flags.DEFINE_enum("feature_network", "classifier", ["classifier", "inception"], "Network that scores: the data "
                  "set's --classifier (as the paper scores MNIST-like data), or Keras's InceptionV3 with ImageNet "
                  "weights (colour data such as CIFAR10; not bit-equal to the original 2015 graph's numbers).")
flags.DEFINE_string("inception_weights", "imagenet", "With --feature_network=inception: imagenet (Keras downloads "
                    "them once into ~/.keras/models) or the path of inception_v3_weights_tf_dim_ordering_tf_kernels.h5.")
flags.DEFINE_boolean("cache", True, "Cache the test set's reference statistics on disk ($MEMORYGAN_CACHE_DIR, else "
                     "~/.cache/memorygan_tf), keyed by the scoring network and the test images.")


class _Progress:
    """Counts generated and classified images into one progress display (evaluation's
    generate_images and classify report them; see count_progress)."""

    def __init__(self):
        self.update, self.done, self.last = (lambda done: None), 0, 0

    def generated(self, count):
        self.done += count
        self.update(self.done)

    def classified(self, done, total):
        self.done += done - (self.last if done >= self.last else 0)
        self.last = done if done < total else 0
        self.update(self.done)


_PROGRESS = _Progress()


def count_progress(model, update):
    """Counts the images `model.generate` makes (evaluation.generate_images calls it batch by
    batch) into the progress display, so its ETA covers generating as well as classifying."""
    _PROGRESS.update = update
    generate = model.generate

    def counted(n, *args, **kwargs):
        images = generate(n, *args, **kwargs)
        _PROGRESS.generated(int(n))
        return images

    object.__setattr__(model, "generate", counted)  # this process's instance only, untracked by Keras


def test_set_mismatch(config, x_test, classifier, path, data):
    """None, or the one-line refusal of a test set the run's images cannot be scored against:
    another image shape than the run's (or the classifier's input), or (without
    --allow_mismatch) a --data_path of another data set than the run's."""
    from memorygan_tf import cli

    shape = tuple(config.model.image_shape)
    if tuple(x_test.shape[1:]) != shape:
        return (f"--data_path: its test images are {tuple(x_test.shape[1:])}, the run's {shape}; give the test "
                f"set of the run's data set ({config.train.dataset})")
    wanted = tuple(classifier.input_shape[1:])
    if wanted != shape:
        return f"--classifier: it reads {wanted} images, the run makes {shape}; use classifiers/{config.train.dataset}"
    if FLAGS.data_path is None or FLAGS.allow_mismatch:
        return None
    named = os.path.basename(FLAGS.data_path).split(".")[0].lower()
    if named in data_set_names() and named != config.train.dataset:
        return (f"--data_path: {FLAGS.data_path} holds {named}, the run was trained on {config.train.dataset}; "
                "give its test set (or pass --allow_mismatch)")
    try:  # the run's own test set, where it can be found: another data set differs in its pixels
        own = data.resolve_data_path(config.train.dataset, config.train.data_path,
                                     data.default_search_path(os.environ))
        if own is None or os.path.realpath(own) == os.path.realpath(path):
            return None
        own_test = data.load_labelled(config.train.dataset, own, config.train.data_dir, config.train.seed)[2]
    except (data.DataError, configs.ConfigError, OSError, ValueError):
        return None
    if cli.pixels_differ(own_test, x_test):
        return (f"--data_path: the test images of {FLAGS.data_path} do not look like the run's "
                f"{config.train.dataset} ({own}): mean pixel {x_test.mean():.1f} against {own_test.mean():.1f}; "
                "give the run's test set (or pass --allow_mismatch)")
    return None


def data_set_names():
    return {"fashion_mnist", "mnist", "affine_mnist", "cifar10"}


def num_samples_bound(config, classifier, available):
    """The most generated images the machine can hold while they are scored (None if the
    available memory is unknown): each image as float32 twice (its batches and their
    concatenation), its class probabilities and features, and again for the moving average's
    copy of the scores; half the available memory is left for everything else."""
    import numpy as np

    if available is None:
        return None
    outputs = sum(int(np.prod(o.shape[1:])) for o in classifier.outputs) if hasattr(classifier, "outputs") else 0
    per_image = 4 * (2 * int(np.prod(config.model.image_shape)) + max(outputs, 10) + 256)
    return max(int(available / 2 // per_image), FLAGS.splits)


def scoring_network(image_shape, classifier, classifier_path):
    """(heads, cache key of the network or None, images per forward pass, record) of the network
    --feature_network chooses. Raises configs.ConfigError naming the flag."""
    from memorygan_tf import evaluation, inception

    if FLAGS.feature_network == "classifier":
        return evaluation.classifier_heads(classifier), None, 500, None
    weights = FLAGS.inception_weights
    if weights != "imagenet" and not os.path.isfile(weights):
        raise configs.ConfigError("inception_weights", f"{weights} is not a file (give imagenet or the .h5 path)")
    try:
        heads = inception.inception_heads(image_shape, weights)
    except inception.InceptionUnavailable as err:
        raise configs.ConfigError("inception_weights", str(err)) from None
    except (OSError, ValueError) as err:
        raise configs.ConfigError("inception_weights", f"{weights} does not load ({str(err).splitlines()[0][:120]})") \
            from None
    return heads, inception.network_key(weights), inception.BATCH_SIZE, dict(network="inception_v3", weights=weights)


def cache_dir():
    from memorygan_tf import evaluation

    return evaluation.default_cache_dir(os.environ) if FLAGS.cache else None


class Refused(Exception):
    """A one-line refusal whose text names the flag (main prints it with cli.fail)."""


def check_out():
    """Refuses an --out the scores cannot be written to, before any scoring so that they
    cannot be lost: a file the run owns (config.json, checkpoints, logs), a folder, a place
    that is missing or read-only."""
    from memorygan_tf import cli

    if FLAGS.out is None:
        return
    refused = cli.check_output(FLAGS.out, "out", cli.evaluation_file)
    if refused:
        raise Refused(refused)
    if os.path.isdir(FLAGS.out):
        raise Refused(f"--out: {FLAGS.out} is a folder; give a file name, e.g. {FLAGS.out}/scores.json")
    folder = os.path.dirname(os.path.abspath(FLAGS.out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise Refused(f"--out: cannot write into {folder} (missing or read-only)")


def load_test_set(dataset, data_path, data_dir=None, seed=0):
    """(path, x_test, y_test) of `dataset`'s test split; a refusal names --data_path unless
    the data's own message names a flag."""
    from memorygan_tf import data

    try:
        path = data.resolve_data_path(dataset, data_path, data.default_search_path(os.environ))
        _, _, x_test, y_test = data.load_labelled(dataset, path, data_dir, seed)
    except (data.DataError, OSError) as err:
        raise Refused(str(err) if str(err).startswith("--") else f"--data_path: {err}") from None
    return path, x_test, y_test


def write_scores(result, out):
    """Writes the scores to `out` (atomically); if that fails, prints them and refuses."""
    import numpy as np

    def encode(value):
        return value.tolist() if isinstance(value, np.ndarray) else str(value)

    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out + ".tmp", "w") as f:
            json.dump(result, f, indent=2, default=encode)
        os.replace(out + ".tmp", out)
    except OSError as err:
        print(json.dumps(result, default=encode))
        raise Refused(f"--out: cannot write {out} ({err.strerror or err}); the scores are printed above") from None


def show_scores(result):
    shown = {k: v for k, v in result.items() if isinstance(v, (int, float)) and k != "seconds"}
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))


def score_samples():
    """--samples: scores the images a user brings against --dataset's test split."""
    from memorygan_tf import cli, data, evaluation, hardware

    if FLAGS.logdir:
        raise Refused("--samples: scores images you bring; --logdir scores a run: give one of the two")
    if not FLAGS.dataset:
        raise Refused("--dataset: --samples needs the data set whose test split is the reference, e.g. "
                      "--dataset=fashion_mnist")
    if FLAGS.dataset not in configs.DATASETS:
        raise Refused(f"--dataset: unknown data set {FLAGS.dataset!r}; choose one of {', '.join(configs.DATASETS)}")
    check_out()
    if not os.path.exists(FLAGS.samples):
        raise Refused(f"--samples: {FLAGS.samples} does not exist")
    try:
        images = evaluation.as_unit_images(data.load_local(FLAGS.samples), FLAGS.samples)
    except (data.DataError, OSError) as err:
        raise Refused(f"--samples: {err}") from None
    _, x_test, _ = load_test_set(FLAGS.dataset, FLAGS.data_path)
    if len(images) < FLAGS.splits:
        raise Refused(f"--samples: {len(images)} images; the Inception Score's {FLAGS.splits} splits need at least "
                      f"{FLAGS.splits}")
    if images.shape[1:] != x_test.shape[1:]:
        raise Refused(f"--samples: the images are {images.shape[1:]}, {FLAGS.dataset}'s test images "
                      f"{x_test.shape[1:]}; score them against the data set they imitate")
    classifier, record = None, None
    if FLAGS.feature_network == "classifier":
        classifier, record = evaluation.load_scoring_classifier(FLAGS.classifier, FLAGS.dataset, FLAGS.allow_mismatch)
    classifier_path = record and record["path"]
    heads, key, batch, inception_record = scoring_network(x_test.shape[1:], classifier, classifier_path)
    start = time.time()
    reference = evaluation.load_reference(classifier, classifier_path, x_test, cache_dir(), log=print, heads=heads,
                                          network_key=key, batch_size=batch)
    progress = cli.progress(len(images), "images classified")
    result = evaluation.score_images(images, heads, reference.features, FLAGS.splits, reference,
                                     lambda done, total: progress(done), batch)
    result.update(samples=os.path.abspath(FLAGS.samples), num_samples=int(len(images)), dataset=FLAGS.dataset,
                  classifier=inception_record or record, seconds=round(time.time() - start, 1),
                  machine=hardware.machine_info())
    show_scores(result)
    if FLAGS.out:
        write_scores(result, FLAGS.out)
        print(f"Wrote {FLAGS.out}")
    return 0


def score_run():
    """--logdir: scores the run's generator, trained weights and moving average."""
    from memorygan_tf import cli, data, evaluation, hardware, rundir, summaries

    if not FLAGS.logdir:
        raise Refused("--logdir: give a run directory to score (or --samples=FILE.npz|DIR with --dataset)")
    check_out()
    run = rundir.RunDir(FLAGS.logdir)
    if not run.has_config():
        raise Refused(f"--logdir: {FLAGS.logdir} is not a run directory (no {run.CONFIG})")
    config = configs.with_prior_temperature(run.load_config(), FLAGS.prior_temperature)
    # A changed temperature is another experiment: its scores and scalars get their own folder.
    eval_dir = run.evaluations
    if FLAGS.prior_temperature is not None:
        eval_dir = os.path.join(eval_dir, f"prior_temperature_{config.model.prior_temperature:g}")
    classifier, record = evaluation.load_scoring_classifier(FLAGS.classifier, config.train.dataset,
                                                            FLAGS.allow_mismatch)
    path, x_test, y_test = load_test_set(config.train.dataset, FLAGS.data_path or config.train.data_path,
                                         config.train.data_dir, config.train.seed)
    mismatch = test_set_mismatch(config, x_test, classifier, path, data)
    if mismatch:
        raise Refused(mismatch)
    samples_bound = num_samples_bound(config, classifier, hardware.available_memory_bytes())
    if samples_bound is not None and FLAGS.num_samples > samples_bound:
        raise Refused(f"--num_samples: {FLAGS.num_samples} generated images (held in memory with their classifier "
                      f"outputs) need more than the {hardware.available_memory_bytes() / 2**30:.1f} GiB available; "
                      f"at most {samples_bound} fit (the paper scores 64000)")
    heads, key, batch, inception_record = scoring_network(tuple(config.model.image_shape), classifier, record["path"])
    try:
        model, checkpoint = run.load_model(FLAGS.checkpoint, config=config)
    except OSError as err:
        raise Refused(str(err)) from None
    start = time.time()
    reference = evaluation.load_reference(classifier, record["path"], x_test, cache_dir(), log=print, heads=heads,
                                          network_key=key, batch_size=batch)
    passes = 2 if getattr(model, "has_ema", False) else 1  # the moving average scores the same latents again
    count_progress(model, cli.progress(2 * passes * FLAGS.num_samples, "images generated and classified"))
    result = evaluation.evaluate_model(model, classifier, x_test, y_test, FLAGS.num_samples, FLAGS.splits,
                                       FLAGS.seed, progress=_PROGRESS.classified, reference=reference, heads=heads,
                                       batch_size=batch)
    result["classifier"] = inception_record or record
    result["config"] = dataclasses.asdict(config)  # the run's full config, with the scores
    result.update(checkpoint=checkpoint, seconds=round(time.time() - start, 1), machine=hardware.machine_info())
    if configs.uses_memory(config.model):
        result["prior_temperature"] = config.model.prior_temperature
    out = FLAGS.out or os.path.join(eval_dir, f"step_{result['step']:08d}.json")
    write_scores(result, out)  # the scores first: nothing after this may lose them
    # The run's TensorBoard takes the scores that go into its eval/ folder, or any when asked with --tensorboard.
    into_run = os.path.realpath(out).startswith(os.path.realpath(eval_dir) + os.sep)
    if FLAGS.tensorboard and (into_run or FLAGS["tensorboard"].present):
        summaries.write_evaluation(eval_dir, config, result)
    show_scores(result)
    if "ema" in result:
        print("moving average of the generator: " + " ".join(
            f"{k}={v:.4g}" for k, v in result["ema"].items() if isinstance(v, float)))
    print(f"Wrote {out}")
    return 0


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    if FLAGS.num_samples < FLAGS.splits or FLAGS.splits <= 0:
        return cli.fail("--num_samples must be at least --splits, and --splits positive")
    try:
        return score_samples() if FLAGS.samples else score_run()
    except (Refused, configs.ConfigError) as err:
        return cli.fail(err)


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="no scores were written; rerun the same command")
