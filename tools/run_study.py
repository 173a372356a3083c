"""Run (or resume) a study: train every run of a spec round by round, score each.

    python tools/run_study.py --spec=flags/studies/fashion_mnist_screen.json --root=runs/studies

Trains the evaluation classifier first if --classifier holds none. Rerun the same command
after an interruption (or in a later session): finished trainings and evaluations are
skipped and unfinished runs continue from their checkpoints. `--runs=a,b` limits the
study to some runs (e.g. the ones still in contention for a later round), `--seeds=0`
to some seeds (every run's first seed before any second one). Prints a
markdown table per round and writes all results to ROOT/NAME/results.json.
A thin wrapper over memorygan_tf.study.
"""

import json
import os
import subprocess
import sys

from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS
flags.DEFINE_string("spec", None, "Study spec (JSON), e.g. flags/studies/fashion_mnist_screen.json.")
flags.DEFINE_string("root", "runs/studies", "Where the study's run directories go.")
flags.DEFINE_string("classifier", "classifiers/fashion_mnist", "Evaluation classifier folder.")
flags.DEFINE_integer("classifier_width", None, "Width if the classifier has to be trained (default: "
                     "tools/train_classifier.py's, 16; the learning curves use 32).")
flags.DEFINE_integer("classifier_epochs", None, "Epochs if the classifier has to be trained "
                     "(default: tools/train_classifier.py's).")
flags.DEFINE_list("runs", None, "Only these runs of the spec (default: all).")
flags.DEFINE_list("seeds", None, "Only these seeds of the spec (default: all), e.g. 0 first for every run.")
flags.DEFINE_integer("max_epochs", None, "Only the rounds of at most this many epochs (e.g. 1: the "
                     "screen's first round only; default: every round of the spec).")
flags.DEFINE_boolean("train", True, "Train the jobs not trained yet (--notrain: only score the rounds whose "
                     "checkpoint exists, e.g. beside another process that trains).")
flags.DEFINE_boolean("evaluate", True, "Score each round (--noevaluate: only train, e.g. while the "
                     "classifier is still being trained; score later with --notrain).")
flags.DEFINE_boolean("summary_only", False, "Print the tables of what is done; train nothing.")
flags.DEFINE_string("figure", None, "Also draw the learning curves (FID, IS, recall and the memory's health "
                    "against epoch, seed mean and each seed) of what is scored into this .png; every point "
                    "at the spec's num_samples (a full round by its second score).")
flags.mark_flags_as_required(["spec"])


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from memorygan_tf import study
    from memorygan_tf.cli import fail

    try:
        spec = study.load_spec(FLAGS.spec)
    except (OSError, ValueError, study.StudyError) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        return fail(f"--spec: {FLAGS.spec}: {reason}")
    unknown = set(FLAGS.runs or ()) - set(spec.runs)
    if unknown:
        return fail(f"--runs: {', '.join(sorted(unknown))} not in {FLAGS.spec} "
                    f"(runs: {', '.join(spec.runs)})")
    try:
        seeds = None if FLAGS.seeds is None else [int(s) for s in FLAGS.seeds]
    except ValueError:
        return fail(f"--seeds: integers expected, got {','.join(FLAGS.seeds)}")
    if seeds is not None and set(seeds) - set(spec.seeds):
        return fail(f"--seeds: {sorted(set(seeds) - set(spec.seeds))} not in {FLAGS.spec} "
                    f"(seeds: {list(spec.seeds)})")
    if FLAGS.max_epochs is not None and FLAGS.max_epochs < min(spec.rounds):
        return fail(f"--max_epochs: {FLAGS.max_epochs} is below the first round ({min(spec.rounds)} epochs)")
    if FLAGS.figure and not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.figure))):
        return fail(f"--figure: the folder of {FLAGS.figure} does not exist")
    if not FLAGS.train and not FLAGS.evaluate:
        return fail("--notrain and --noevaluate leave nothing to do (--summary_only prints the tables)")
    if not FLAGS.summary_only:
        has_classifier = os.path.exists(os.path.join(FLAGS.classifier, "classifier.json"))
        if not FLAGS.train and not has_classifier:
            return fail(f"--classifier: no classifier in {FLAGS.classifier} (--notrain scores, and trains nothing)")
        if FLAGS.evaluate and not has_classifier:
            print(f"Training the evaluation classifier into {FLAGS.classifier} ...", flush=True)
            trained = subprocess.run([
                sys.executable, os.path.join(ROOT, "tools", "train_classifier.py"), f"--out={FLAGS.classifier}",
                f"--dataset={study.dataset_of(spec)}",
                *([f"--epochs={FLAGS.classifier_epochs}"] if FLAGS.classifier_epochs else []),
                *([f"--width={FLAGS.classifier_width}"] if FLAGS.classifier_width else [])])
            if trained.returncode:
                return trained.returncode  # the classifier tool said why, in its one line
        try:
            study.run_study(spec, FLAGS.root, FLAGS.classifier, os.path.join(ROOT, "tools"), runs=FLAGS.runs,
                            log=lambda message: print(message, flush=True), seeds=seeds,
                            max_epochs=FLAGS.max_epochs, train=FLAGS.train, evaluate=FLAGS.evaluate)
        except study.StudyError as err:
            return fail(err)
    results = study.collect(spec, FLAGS.root)
    for epochs in study.rounds(spec, FLAGS.max_epochs):
        print(f"\n## {spec.name}, epoch {epochs} (step {epochs * spec.steps_per_epoch})\n")
        print(study.summary_table(spec, results, epochs * spec.steps_per_epoch))
    if len(study.rounds(spec, FLAGS.max_epochs)) > 2:
        print(f"\n## {spec.name}: learning curves ({spec.num_samples} images at every epoch; "
              f"seed mean (each seed))\n")
        print(study.curve_table(spec, study.curve_view(spec, results)))
    out = os.path.join(FLAGS.root, spec.name, "results.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nWrote {out}")
    if FLAGS.figure:
        from memorygan_tf import visualize

        view = study.curve_view(spec, results)
        fig, drawn = visualize.learning_curves_figure(view, spec.steps_per_epoch,
                                                      **study.curve_figure_title(spec, view))
        visualize.save_figure(fig, FLAGS.figure)
        print(f"Wrote {FLAGS.figure} ({', '.join(drawn) or 'nothing scored yet'})")
    return 0


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="finished trainings and scores are kept; rerun the same command to continue")
