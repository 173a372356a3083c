"""A resumable study: several training runs, brought forward in rounds, each scored.

A study spec (JSON, see flags/studies/) names common flags, rounds of epochs and the
runs (name -> extra flags) and seeds. :func:`run_study` brings every (run, seed) to
the first round's epochs, scores it, then to the next round, and so on: so whatever
the budget, every setting has been measured at the same epochs. Everything lives in
run directories (checkpoints, eval/*.json), so an interrupted study resumes where it
stopped by calling it again: finished trainings and evaluations are skipped. An
evaluation counts as done only if the same classifier made it: called with another
classifier, the study scores every run again (training nothing) and moves the old
scores to eval/superseded/.
Training and evaluation run as subprocesses (`python -m memorygan_tf.main`,
`tools/evaluate.py`), exactly the commands a user runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from typing import Dict, List, Tuple

from memorygan_tf import configs, rundir


@dataclasses.dataclass(frozen=True)
class StudySpec:
    name: str
    common_flags: Tuple[str, ...]
    rounds: Tuple[int, ...]  # epochs reached after each round
    runs: Dict[str, Tuple[str, ...]]
    seeds: Tuple[int, ...] = (0,)
    steps_per_epoch: int = configs.MNIST_EPOCH_STEPS
    num_samples: int = configs.PAPER_EVAL_SAMPLES
    # Rounds scored with `full_samples` instead of `num_samples` (a learning curve's
    # cheap points every epoch, the full evaluation at a few epochs).
    full_rounds: Tuple[int, ...] = ()
    full_samples: int = 0


def dataset_of(spec):
    """The data set named by the spec's common flags (`--dataset=`; fashion_mnist if none)."""
    names = [f.split("=", 1)[1] for f in spec.common_flags if f.startswith("--dataset=")]
    return names[-1] if names else "fashion_mnist"


def samples_at(spec, epochs):
    """Generated images scored at the round that reaches `epochs`."""
    return spec.full_samples if epochs in spec.full_rounds else spec.num_samples


class StudyError(RuntimeError):
    """A study that cannot go on: a bad spec, or a training or evaluation that failed."""


# Flags train_command gives every job; a spec setting them would be silently overridden.
STUDY_FLAGS = {"logdir": "ROOT/NAME/RUN/seed_S", "seed": 'from "seeds"', "epochs": 'from "rounds"',
               "steps_per_epoch": 'from "steps_per_epoch"'}


def load_spec(path):
    """A StudySpec from its JSON file, checked field by field (StudyError naming the field)."""
    with open(path) as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        raise StudyError(f"expected a JSON object (name, rounds, runs, ...), got a {type(raw).__name__}")

    def field(name, kind, default=None):
        value = raw.get(name, default)
        if value is None:
            raise StudyError(f'"{name}" is missing')
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise StudyError(f'"{name}" must be {_KIND_NAMES.get(kind, kind.__name__)}, got {json.dumps(value)[:80]}')
        return value

    def positive_ints(name, value):
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise StudyError(f'"{name}" must be a non-empty list of positive integers, got {json.dumps(value)[:80]}')
        return tuple(value)

    def flag_list(what, value):
        if not isinstance(value, list) or not all(isinstance(f, str) and f.startswith("--") for f in value):
            raise StudyError(f'{what} must be a list of "--flag=value" strings, got {json.dumps(value)[:80]}')
        return tuple(value)

    name = field("name", str)
    runs = field("runs", dict)
    if not runs:
        raise StudyError('"runs" is empty: name at least one run ({"name": ["--flag=value", ...]})')
    runs = {run: flag_list(f'run "{run}": flags', flags) for run, flags in runs.items()}
    common = flag_list('"common_flags"', raw.get("common_flags", []))
    for what, flags in [('"common_flags"', common)] + [(f'run "{run}"', flags) for run, flags in runs.items()]:
        for flag in flags:
            flag_name = flag[2:].split("=", 1)[0]
            if flag_name in STUDY_FLAGS:  # train_command sets them; a run's own value would be silently overridden
                raise StudyError(f"{what} sets {flag.split('=', 1)[0]}, which the study sets itself "
                                 f"({STUDY_FLAGS[flag_name]}); remove it")
    rounds = positive_ints("rounds", field("rounds", list))
    if list(rounds) != sorted(set(rounds)):
        raise StudyError(f'"rounds" must rise (epochs reached after each round), got {list(rounds)}')
    seeds = field("seeds", list, [0])
    if not seeds or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in seeds):
        raise StudyError(f'"seeds" must be a non-empty list of integers >= 0, got {json.dumps(seeds)[:80]}')
    steps = field("steps_per_epoch", int, configs.MNIST_EPOCH_STEPS)
    samples = field("num_samples", int, configs.PAPER_EVAL_SAMPLES)
    full = field("full_evaluation", dict, {})
    full_rounds = positive_ints("full_evaluation.rounds", full.get("rounds")) if full else ()
    full_samples = full.get("num_samples") if full else 0
    if steps <= 0:
        raise StudyError(f'"steps_per_epoch" must be positive, got {steps}')
    checked = [("num_samples", samples)] + ([("full_evaluation.num_samples", full_samples)] if full else [])
    for key, value in checked:
        if not isinstance(value, int) or value < configs.MIN_EVAL_SAMPLES:
            raise StudyError(f'"{key}" must be an integer of at least {configs.MIN_EVAL_SAMPLES} '
                             f'(the Inception Score\'s splits), got {value}')
    return StudySpec(name=name, common_flags=common, rounds=rounds, runs=runs, seeds=tuple(seeds), steps_per_epoch=steps,
                     num_samples=samples, full_rounds=full_rounds, full_samples=full_samples)


_KIND_NAMES = {str: "a string", dict: "an object", list: "a list", int: "an integer"}


def run_dir(root, spec, run, seed):
    return os.path.join(root, spec.name, run, f"seed_{seed}")


def train_command(spec, run, seed, epochs, logdir):
    return [sys.executable, "-m", "memorygan_tf.main", *spec.common_flags, *spec.runs[run],
            f"--seed={seed}", f"--epochs={epochs}", f"--steps_per_epoch={spec.steps_per_epoch}",
            f"--logdir={logdir}"]


def evaluation_path(logdir, step):
    return rundir.RunDir(logdir).evaluation(step)


def curve_evaluation_path(logdir, step):
    """A full round's second score, with the curve's sample count (`spec.num_samples`):
    FID's bias and precision/recall's k-NN radii depend on how many images are scored, so
    a learning curve takes every point at one count (see `curve_view`)."""
    return rundir.RunDir(logdir).curve_evaluation(step)


def needs_curve_evaluation(spec, epochs):
    """Whether the round reaching `epochs` is also scored with the curve's sample count."""
    return epochs in spec.full_rounds and spec.full_samples != spec.num_samples


def evaluated_with(path, classifier):
    """Whether the evaluation file `path` exists and was scored by the classifier in the
    folder `classifier` (files that do not record their classifier count as done)."""
    if not os.path.exists(path):
        return False
    with open(path) as f:
        used = json.load(f).get("classifier", {}).get("path")
    return used is None or os.path.realpath(used) == os.path.realpath(os.path.join(classifier, "classifier.keras"))


def _supersede(path):
    """Moves an evaluation made with another classifier to eval/superseded/ (kept, not collected)."""
    folder = os.path.join(os.path.dirname(path), "superseded")
    os.makedirs(folder, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    os.replace(path, os.path.join(folder, f"{stem}.{time.strftime('%Y%m%d-%H%M%S')}.json"))


def rounds(spec, max_epochs=None):
    """The spec's rounds (epochs reached), only those of at most `max_epochs` if given."""
    return [e for e in spec.rounds if max_epochs is None or e <= max_epochs]


def plan(spec, runs=None, seeds=None, max_epochs=None):
    """The (round epochs, run, seed) jobs in the order they are done (optionally only
    some runs and seeds, and only the rounds of at most `max_epochs` epochs)."""
    names = [r for r in spec.runs if runs is None or r in runs]
    chosen = [s for s in spec.seeds if seeds is None or s in seeds]
    return [(epochs, run, seed) for epochs in rounds(spec, max_epochs) for seed in chosen for run in names]


def run_study(spec, root, classifier, tools_dir, runs=None, log=print, env=None, seeds=None, max_epochs=None,
              train=True, evaluate=True):
    """Trains and scores every job of the plan that is not done yet. Returns the results.

    `evaluate=False` only trains (e.g. while the classifier is still being trained);
    `train=False` only scores the jobs whose checkpoint exists (e.g. beside a training
    process: one process trains, another scores what is finished). Scoring a round after
    training went past it needs that round's checkpoint kept (`--keep_checkpoints`).
    """
    env = dict(os.environ if env is None else env)
    jobs = plan(spec, runs, seeds, max_epochs)
    clock = {"seconds": 0.0, "worked": 0, "index": 0}

    def stamp():
        """[time] [job i/n, ETA]: the ETA from the jobs that did work so far (an upper bound
        where later jobs are done already)."""
        left = len(jobs) - clock["index"] + 1
        eta = (f", ETA {_duration(clock['seconds'] / clock['worked'] * left)}" if clock["worked"] else "")
        return f"[{time.strftime('%H:%M:%S')}] [job {clock['index']}/{len(jobs)}{eta}]"

    def call(*args):
        started = time.time()
        _call(*args)
        clock["seconds"] += time.time() - started
        clock["worked"] += 1

    for clock["index"], (epochs, run, seed) in enumerate(jobs, 1):
        logdir = run_dir(root, spec, run, seed)
        step = epochs * spec.steps_per_epoch
        if not evaluate:
            if not _checkpoint_at(logdir, step) and not evaluated_with(evaluation_path(logdir, step), classifier):
                log(f"{stamp()} train {run} seed {seed} to epoch {epochs}")
                call(train_command(spec, run, seed, epochs, logdir), env, logdir, "train.log")
            continue
        if not train and not _checkpoint_at(logdir, step):
            continue
        # (output, images, extra evaluate.py arguments): the round's score, then the curve's
        scores = [(evaluation_path(logdir, step), samples_at(spec, epochs), [])]
        if needs_curve_evaluation(spec, epochs):
            curve = curve_evaluation_path(logdir, step)
            scores.append((curve, spec.num_samples, [f"--out={curve}", "--notensorboard"]))
        for out, samples, extra in scores:
            if evaluated_with(out, classifier):
                continue
            if os.path.exists(out):
                log(f"{stamp()} {run} seed {seed} step {step} was scored by another "
                    f"classifier: scoring it again with {classifier}")
                _supersede(out)
            if not _checkpoint_at(logdir, step):
                if extra:  # the curve's score: the round was scored, its checkpoint is gone since
                    log(f"{stamp()} {run} seed {seed} step {step}: no checkpoint left "
                        f"to score with {samples} images for the curve")
                    continue
                log(f"{stamp()} train {run} seed {seed} to epoch {epochs}")
                call(train_command(spec, run, seed, epochs, logdir), env, logdir, "train.log")
            log(f"{stamp()} evaluate {run} seed {seed} at step {step} ({samples} images)")
            os.makedirs(os.path.dirname(out), exist_ok=True)  # tools/evaluate.py writes only into a folder
            call([sys.executable, os.path.join(tools_dir, "evaluate.py"), f"--logdir={logdir}",
                   f"--classifier={classifier}", f"--num_samples={samples}",
                   f"--checkpoint={rundir.RunDir(logdir).checkpoint(step)}", *extra],
                  env, logdir, "evaluate.log")
    return collect(spec, root)


def _checkpoint_at(logdir, step):
    return rundir.RunDir(logdir).has_checkpoint(step)


def _duration(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _run_to_the_end(command, env, log_file, grace=600):
    """Runs a job; on Ctrl-C (or SIGTERM) passes it on as SIGINT and waits for the job to stop
    by itself (the trainer saves a checkpoint, evaluate writes nothing half), instead of
    subprocess.run's kill after a quarter second; then raises KeyboardInterrupt."""
    process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        return subprocess.CompletedProcess(command, process.wait())
    except KeyboardInterrupt:
        try:
            process.send_signal(signal.SIGINT)  # a terminal's Ctrl-C reached it already; a kill did not
        except OSError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


def _call(command, env, logdir, log_name):
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, log_name)
    with open(path, "a") as log_file:
        log_file.write(f"\n$ {' '.join(command)}\n")
        log_file.flush()
        start = log_file.tell()
        result = _run_to_the_end(command, env, log_file)
    if result.returncode != 0:
        with open(path, errors="replace") as f:
            f.seek(start)
            errors = [line.strip() for line in f if line.startswith("error: ")]
        what = "training" if log_name == "train.log" else "evaluation"
        said = f": {errors[-1]}" if errors else f" with exit code {result.returncode}"
        raise StudyError(f"{what} of {os.path.relpath(logdir)} failed{said} (log: {path})")


def collect(spec, root):
    """Every evaluation of the study: {run: {seed: {step: result}}}. A full round's score
    at the curve's sample count, if made, is under its result's "curve_evaluation"."""
    results: Dict[str, Dict[int, Dict[int, dict]]] = {}
    for run in spec.runs:
        for seed in spec.seeds:
            logdir = run_dir(root, spec, run, seed)
            for path in rundir.RunDir(logdir).evaluation_files():
                with open(path) as f:
                    result = with_current_names(json.load(f))
                curve = curve_evaluation_path(logdir, result["step"])
                if os.path.exists(curve):
                    with open(curve) as f:
                        result["curve_evaluation"] = with_current_names(json.load(f))
                results.setdefault(run, {}).setdefault(seed, {})[result["step"]] = result
    return results


def dropped_scores(old_report, results, repeat_results=None):
    """The scores a report JSON holds that freshly collected results lack, as
    "results/<run>/<seed>/<step>" or "repeat/<run>/<seed>/<step>" strings (JSON keys are
    strings, collected ones are ints; the strings compare both). A report
    rewritten from a folder that no longer holds a run (a new machine, a cleaned disk) would
    lose them; tools/study_report.py refuses to write it."""
    def keys(results, prefix):
        return {f"{prefix}/{run}/{seed}/{step}" for run, seeds in (results or {}).items()
                for seed, steps in seeds.items() for step in steps}
    old = keys(old_report.get("results"), "results") | keys(old_report.get("repeat_results"), "repeat")
    new = keys(results, "results") | keys(repeat_results, "repeat")
    return sorted(old - new)


# What an evaluation measures without its classifier: the memory's statistics over the test
# images and their clustering against the labels (evaluation.clustering_report). Only these
# (with the evaluation's provenance) join a report scored by another classifier.
CLASSIFIER_FREE_KEYS = frozenset({
    "real_slots", "distinct_real_keys", "mean_real_cosine", "effective_slots", "test_log_likelihood",
    "test_reset_rate", "test_entropy_s", "clusters_used", "cluster_purity", "cluster_nmi", "cluster_accuracy",
    "cluster_purity_top", "cluster_nmi_top", "cluster_accuracy_top"})
PROVENANCE_KEYS = frozenset({"step", "config", "checkpoint", "machine", "seconds", "classifier", "prior_temperature"})
# What tells two classifiers apart: their training record, so that a copy of one
# classifier in another folder is the same classifier.
CLASSIFIER_IDENTITY = ("dataset", "width", "epochs", "seed", "test_accuracy", "seconds")


def classifier_identity(record):
    """A hashable identity of a classifier record (CLASSIFIER_IDENTITY; its real path for a
    record without them), None for no record."""
    if not isinstance(record, dict) or not record:
        return None
    fields = tuple(record.get(k) for k in CLASSIFIER_IDENTITY)
    return fields if any(v is not None for v in fields) else ("path", os.path.realpath(str(record.get("path"))))


def with_int_keys(results):
    """A report JSON's {run: {seed: {step: result}}} with the seeds and steps as ints again, as
    collect() gives them (JSON keys are strings)."""
    return {run: {int(seed): {int(step): result for step, result in steps.items()} for seed, steps in seeds.items()}
            for run, seeds in (results or {}).items()}


def join_repeat(report, repeat_results):
    """A committed `report`'s (JSON-loaded) results and repeat results, with the repeat study's
    `repeat_results` (collect's, e.g. from another machine's folder) added where the report has
    no score: ({run: {seed: {step: result}}} x 2, int keys). A score made with the report's own
    classifier joins whole; one made with another keeps only CLASSIFIER_FREE_KEYS and its
    provenance, marked "classifier_free_only" (another classifier's FID, IS and recall are on
    another scale), with an empty "ema" (the clusters are the discriminator's, the same for both
    weights), so its rerun spread counts for those scores alone."""
    results, repeat = with_int_keys(report.get("results")), with_int_keys(report.get("repeat_results"))
    own = next((classifier_identity(r.get("classifier")) for seeds in results.values() for steps in seeds.values()
                for r in steps.values() if r.get("classifier")), None)
    for run, seeds in (repeat_results or {}).items():
        for seed, steps in seeds.items():
            for step, result in steps.items():
                if step in repeat.get(run, {}).get(seed, {}):
                    continue
                if classifier_identity(result.get("classifier")) != own:
                    result = dict({k: v for k, v in result.items() if k in CLASSIFIER_FREE_KEYS | PROVENANCE_KEYS},
                                  ema={}, classifier_free_only=True)
                repeat.setdefault(run, {}).setdefault(seed, {})[step] = result
    return results, repeat


def curve_view(spec, results):
    """`results` (collect's) with every point scored with the curve's sample count: a full
    round's result is replaced by its "curve_evaluation", and left out until that exists."""
    full_steps = {e * spec.steps_per_epoch for e in spec.full_rounds if needs_curve_evaluation(spec, e)}
    view: Dict[str, Dict[int, Dict[int, dict]]] = {}
    for run, per_seed in results.items():
        for seed, by_step in per_seed.items():
            for step, result in by_step.items():
                if int(step) in full_steps:
                    result = result.get("curve_evaluation")
                    if result is None:
                        continue
                view.setdefault(run, {}).setdefault(seed, {})[step] = result
    return view


# Names of evaluations written before clustering_report scored MemoryGAN's slots too.
RENAMED = {"argmax_slots": "clusters_used", "purity": "cluster_purity", "nmi": "cluster_nmi"}


def with_current_names(result):
    """An evaluation dict with the names of older evaluations mapped to today's."""
    out = dict(result)
    for old, new in RENAMED.items():
        if old in out:
            out.setdefault(new, out.pop(old))
    return out


SUMMARY_COLUMNS: List[Tuple[str, str]] = [
    ("inception_score", "IS"), ("fid", "FID"), ("kid", "KID"), ("precision", "precision"),
    ("recall", "recall"), ("real_slots", "real slots"),
    ("distinct_real_keys", "distinct real keys"), ("mean_real_cosine", "mean cos"),
    ("effective_slots", "eff. slots"), ("test_reset_rate", "test reset rate"),
    ("test_entropy_s", "H within S (nats)"),
    # clustering of the test set (evaluation.clustering_report): argmax over every cluster (MemoryGAN:
    # slot), and MIC-GANs' protocol over the C heaviest clusters
    ("clusters_used", "test clusters"), ("cluster_purity", "purity"), ("cluster_nmi", "NMI"),
    ("cluster_purity_top", "purity@C"), ("cluster_nmi_top", "NMI@C"), ("cluster_accuracy_top", "acc@C"),
]


PER_SEED_COLUMNS = ("inception_score", "fid")  # also listed seed by seed


def summary_table(spec, results, step):
    """A markdown table of the runs at one step: mean (and +- the sample std over seeds,
    n - 1 as compare's) per column; IS and FID also seed by seed, in the spec's seed order."""
    import numpy as np

    lines = ["| run | seeds | " + " | ".join(title for _, title in SUMMARY_COLUMNS) + " |",
             "|---|---|" + "---|" * len(SUMMARY_COLUMNS)]
    for run in spec.runs:
        by_seed = results.get(run, {})
        rows = [by_seed[seed][step] for seed in sorted(by_seed) if step in by_seed[seed]]
        if not rows:
            continue
        cells = []
        for key, _ in SUMMARY_COLUMNS:
            values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
            if not values:
                cells.append("-")
            elif len(values) == 1:
                cells.append(_number(values[0]) if isinstance(values[0], float) else str(values[0]))
            else:
                cells.append(mean_std_text(float(np.mean(values)), float(np.std(values, ddof=1)),
                                           values if key in PER_SEED_COLUMNS else None))
        lines.append(f"| {run} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value):
    """3 significant digits, whole numbers from 1,000 up (counts such as distinct keys)."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def mean_std_text(mean, std, values=None):
    """A table cell "mean +- std" (the std to 2 significant digits, whole from 100 up),
    followed by each seed's value where `values` are given."""
    text = f"{_number(mean)} +- {std:.0f}" if std >= 100 else f"{_number(mean)} +- {std:.2g}"
    return text + (" (" + " / ".join(_number(v) for v in values) + ")" if values is not None else "")


CURVE_COLUMNS = (("fid", "FID"), ("inception_score", "IS"), ("recall", "recall"))


def curve_table(spec, results, columns=CURVE_COLUMNS):
    """A markdown learning-curve table: one row per round (epochs), for each column and
    run the seed mean (and each seed, in the spec's seed order) of `results`, which should
    be `curve_view`'s so that every row is scored with as many images. A seed not scored
    at some round shows as "-" (the mean is then of the seeds scored)."""
    import numpy as np

    runs = list(spec.runs)
    lines = ["| epoch | " + " | ".join(f"{title} {run}" for _, title in columns for run in runs) + " |",
             "|---|" + "---|" * (len(columns) * len(runs))]
    for epochs in spec.rounds:
        step = epochs * spec.steps_per_epoch
        cells = []
        for key, _ in columns:
            for run in runs:
                values = [results.get(run, {}).get(seed, {}).get(step, {}).get(key) for seed in spec.seeds]
                present = [v for v in values if isinstance(v, (int, float))]
                if not present:
                    cells.append("-")
                    continue
                each = " / ".join(_number(v) if isinstance(v, (int, float)) else "-" for v in values)
                cells.append(f"{_number(float(np.mean(present)))} ({each})" if len(values) > 1 else each)
        if any(cell != "-" for cell in cells):
            lines.append(f"| {epochs} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def classifier_label(record):
    """'ResNet w16 (test accuracy 0.9303)' from a classifier's record (its classifier.json, as
    every evaluation stores it under "classifier"); None without one."""
    if not isinstance(record, dict) or not record:
        return None
    name = f"ResNet w{record['width']}" if "width" in record else os.path.basename(
        os.path.dirname(str(record.get("path", "")))) or "classifier"
    accuracy = record.get("test_accuracy")
    return name if accuracy is None else f"{name} (test accuracy {float(accuracy):.4f})"


def curve_figure_title(spec, results, weights="trained generator"):
    """The title pieces of the learning-curves figure (visualize.learning_curves_figure's
    keywords) of `results` (curve_view's, of the generator `weights` name): the study's
    name, its data set, the budget (the last epoch scored of the last round, the epoch's
    steps, the images a point) and the classifier(s) that scored the points, as their
    evaluations record them."""
    steps, records = [], {}
    for per_seed in results.values():
        for by_step in per_seed.values():
            for step, result in by_step.items():
                steps.append(int(step))
                record = result.get("classifier")
                if isinstance(record, dict):
                    records.setdefault(record.get("path"), record)
    last = f"{max(steps) / spec.steps_per_epoch:g}" if steps else "0"
    budget = (f"scored to epoch {last} of {max(spec.rounds)} ({spec.steps_per_epoch} steps an epoch, "
              f"{spec.num_samples:,} images a point), {weights}")
    labels = [classifier_label(r) for _, r in sorted(records.items(), key=lambda item: str(item[0]))]
    return dict(title=spec.name, dataset=dataset_of(spec), budget=budget,
                classifier="; ".join(label for label in labels if label) or None)


# ------------------------------------------------------------- statistics over seeds
LOWER_IS_BETTER = frozenset({"fid", "kid"})
VERDICT_ALPHA = 0.05  # Welch's two-sided p below this, and the bootstrap CI excludes 0
MIN_VERDICT_SEEDS = 3


def ema_view(results):
    """`results` (collect's) with each result's sample scores those of the generator's moving
    average (its "ema" entry); results without one are left out. The test-set report (the
    discriminator's memory and clusters) is the run's, shared by both views."""
    view: Dict[str, Dict[int, Dict[int, dict]]] = {}
    for run, per_seed in results.items():
        for seed, by_step in per_seed.items():
            for step, result in by_step.items():
                if isinstance(result.get("ema"), dict):
                    merged = dict(result, **result["ema"])
                    merged.pop("ema", None)
                    view.setdefault(run, {}).setdefault(seed, {})[step] = merged
    return view


def values_at(results, run, step, key):
    """The numeric `key` of every seed of `run` scored at `step`, in seed order."""
    by_seed = results.get(run, {})
    out = []
    for seed in sorted(by_seed, key=str):
        value = by_seed[seed].get(step, by_seed[seed].get(str(step), {})).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(float(value))
    return out


def welch_p(a, b):
    """Two-sided p of Welch's t-test of equal means (unequal variances); nan below 2 values
    a side or with no spread on either."""
    import numpy as np
    from scipy import stats

    if len(a) < 2 or len(b) < 2 or (np.var(a) == 0 and np.var(b) == 0):
        return float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def bootstrap_ci(a, b, level=0.95, resamples=10000, seed=0):
    """Percentile bootstrap CI of mean(a) - mean(b), resampling the seeds of each side with
    replacement (each side on its own)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, float), np.asarray(b, float)
    diffs = (rng.choice(a, (resamples, len(a))).mean(1) - rng.choice(b, (resamples, len(b))).mean(1))
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(diffs, tail)), float(np.percentile(diffs, 100 - tail))


def compare(results, step, run_a, run_b, key, spread=None, require_spread=False):
    """A against B on `key` at `step`, over seeds: means, stds, the difference, Welch's p, the
    bootstrap CI of the difference and the verdict. "A better" / "B better" only with at
    least MIN_VERDICT_SEEDS seeds a side, p < VERDICT_ALPHA, a CI that excludes 0 and a
    difference larger than `spread` (the run-to-run spread of one seed, if measured);
    otherwise "level". With `require_spread` (a repeat study is part of the protocol), a
    difference that clears everything but a spread not yet measured is "pending", not a
    verdict."""
    import numpy as np

    a, b = values_at(results, run_a, step, key), values_at(results, run_b, step, key)
    out = dict(metric=key, step=int(step), a=run_a, b=run_b, n_a=len(a), n_b=len(b), values_a=a, values_b=b)
    if not a or not b:
        return dict(out, verdict="not scored")
    diff = float(np.mean(a) - np.mean(b))
    out.update(mean_a=float(np.mean(a)), mean_b=float(np.mean(b)), std_a=float(np.std(a, ddof=1)) if len(a) > 1
               else float("nan"), std_b=float(np.std(b, ddof=1)) if len(b) > 1 else float("nan"), diff=diff,
               p=welch_p(a, b), ci=list(bootstrap_ci(a, b)) if len(a) > 1 and len(b) > 1 else None, spread=spread)
    clears = (len(a) >= MIN_VERDICT_SEEDS and len(b) >= MIN_VERDICT_SEEDS and out["p"] < VERDICT_ALPHA
              and out["ci"] is not None and (out["ci"][0] > 0 or out["ci"][1] < 0)
              and (spread is None or abs(diff) > spread))
    if not clears:
        return dict(out, verdict="level")
    a_better = diff < 0 if key in LOWER_IS_BETTER else diff > 0
    if spread is None and require_spread:
        return dict(out, verdict=f"pending: {run_a if a_better else run_b} ahead, one seed's rerun spread not measured")
    return dict(out, verdict=f"{run_a if a_better else run_b} better")


def rerun_spread(results, repeat_results, run, step, key):
    """The run-to-run spread of one seed: the largest |score of a seed - score of the same
    flags and seed trained again| over the seeds trained twice (`repeat_results`: collect's
    of the repeat study); None if none was."""
    spreads = []
    for seed, by_step in repeat_results.get(run, {}).items():
        again = by_step.get(step, {}).get(key)
        first = results.get(run, {}).get(seed, {}).get(step, {}).get(key)
        if isinstance(again, (int, float)) and isinstance(first, (int, float)):
            spreads.append(abs(float(again) - float(first)))
    return max(spreads) if spreads else None


def comparison_table(comparisons):
    """A markdown table of compare()'s results."""
    lines = ["| metric | epoch step | A | B | A: mean +- std (seeds) | B: mean +- std (seeds) | A - B | "
             "95% CI | Welch p | one seed's rerun spread | verdict |", "|---" * 11 + "|"]
    for c in comparisons:
        if "mean_a" not in c:
            lines.append(f"| {c['metric']} | {c['step']} | {c['a']} | {c['b']} | - | - | - | - | - | - | {c['verdict']} |")
            continue

        def side(mean, std, values):
            each = " / ".join(_number(v) for v in values)
            return f"{_number(mean)} +- {std:.2g} ({each})" if values and len(values) > 1 else _number(mean)

        ci = f"[{c['ci'][0]:.3g}, {c['ci'][1]:.3g}]" if c.get("ci") else "-"
        p = f"{c['p']:.3f}" if c["p"] == c["p"] else "-"
        spread = _number(c["spread"]) if c.get("spread") is not None else "not measured"
        lines.append(f"| {c['metric']} | {c['step']} | {c['a']} | {c['b']} | {side(c['mean_a'], c['std_a'], c['values_a'])} | "
                     f"{side(c['mean_b'], c['std_b'], c['values_b'])} | {c['diff']:.3g} | {ci} | {p} | {spread} | "
                     f"{c['verdict']} |")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class ReportPlan:
    """What a study's report compares, fixed in its spec before any run ("report" object):
    pairs of runs, the rounds (epochs) at which verdicts are given, the scores compared."""

    comparisons: Tuple[Tuple[str, str], ...] = ()
    verdict_rounds: Tuple[int, ...] = ()
    metrics: Tuple[str, ...] = ("fid", "inception_score")
    # Runs whose generator moving average is compared with their trained weights (which
    # weights an export should serve), at the same rounds and by the same scores.
    ema_against_trained: Tuple[str, ...] = ()


def load_report_plan(path, spec):
    """The spec file's "report" object as a ReportPlan (empty if it has none); StudyError
    naming the field for a pair or round the spec does not have."""
    with open(path) as f:
        raw = json.load(f).get("report") or {}
    pairs = tuple(tuple(p) for p in raw.get("comparisons", ()))
    for pair in pairs:
        if len(pair) != 2 or any(run not in spec.runs for run in pair):
            raise StudyError(f'"report.comparisons": {list(pair)} is not a pair of the spec\'s runs')
    rounds_ = tuple(raw.get("verdict_rounds", ()))
    if any(r not in spec.rounds for r in rounds_):
        raise StudyError(f'"report.verdict_rounds": {list(rounds_)} must be rounds of the spec {list(spec.rounds)}')
    weights_runs = tuple(raw.get("ema_against_trained", ()))
    if any(run not in spec.runs for run in weights_runs):
        raise StudyError(f'"report.ema_against_trained": {list(weights_runs)} must be runs of the spec')
    return ReportPlan(comparisons=pairs, verdict_rounds=rounds_,
                      metrics=tuple(raw.get("metrics", ReportPlan.metrics)), ema_against_trained=weights_runs)


def ema_against_trained_view(results, runs):
    """{"<run> EMA": ..., "<run> trained": ...} for each of `runs`: a run's seeds scored with
    the generator's moving average and with its trained weights, as two runs that compare()
    can set side by side (both come from the same trainings, so Welch's test, which treats
    them as independent, is the cautious one)."""
    averages = ema_view(results)
    view = {}
    for run in runs:
        view.update({f"{run} EMA": averages.get(run, {}), f"{run} trained": results.get(run, {})})
    return view


def _scored_by_the_moving_average(results, run, key):
    """Whether any evaluation of `run` holds `key` among its moving average's own scores (the
    sample scores; the memory's and clusters' come from the discriminator, one for both)."""
    return any(key in (result.get("ema") or {}) for by_step in results.get(run, {}).values()
               for result in by_step.values())


def _compare_pairs(spec, plan, view, again, pairs, require_spread, repeated=()):
    """compare() for each (run_a, run_b, metrics) of `pairs` at every verdict round of `plan`,
    with the spread of pair_spread (`again`: the repeat study's view; `repeated`: its runs)."""
    rows = []
    for epochs in plan.verdict_rounds:
        step = epochs * spec.steps_per_epoch
        for key in plan.metrics:
            for run_a, run_b, keys in pairs:
                if key not in keys:
                    continue
                rows.append(dict(compare(view, step, run_a, run_b, key,
                                         pair_spread(view, again, run_a, run_b, step, key, repeated),
                                         require_spread=require_spread), epochs=epochs))
    return rows


def pair_spread(results, repeat_results, run_a, run_b, step, key, repeated=()):
    """The rerun spread a difference between two runs must clear: the larger of the two
    sides' (rerun_spread), or None (not known yet) while a side the repeat study trains
    again (`repeated`) has not been scored at `step`: its own may be the larger."""
    spreads = {run: rerun_spread(results, repeat_results, run, step, key) for run in (run_a, run_b)}
    if any(spread is None and run in repeated for run, spread in spreads.items()):
        return None
    measured = [spread for spread in spreads.values() if spread is not None]
    return max(measured) if measured else None


def report_comparisons(spec, plan, results, repeat_results=None, repeat_runs=None):
    """compare() for every pair, verdict round and metric of `plan`, on the trained weights and
    on the moving average: {"trained": [...], "ema": [...]}, and, for the runs of
    `plan.ema_against_trained`, each run's moving average against its trained weights
    ("ema_against_trained"; the discriminator's scores, the same for both, are left out).
    Given `repeat_results` (the repeat study's, maybe still empty), a verdict waits for the
    rerun spread: of every side among `repeat_runs` (the repeat study's runs; default: those
    it has scored), else of the side that has one."""
    again = repeat_results or {}
    waits = repeat_results is not None
    repeated = set(again if repeat_runs is None else repeat_runs)
    pairs = [(run_a, run_b, plan.metrics) for run_a, run_b in plan.comparisons]
    out = {"trained": _compare_pairs(spec, plan, results, again, pairs, waits, repeated),
           "ema": _compare_pairs(spec, plan, ema_view(results), ema_view(again), pairs, waits, repeated)}
    if plan.ema_against_trained:
        runs = plan.ema_against_trained
        pairs = [(f"{run} EMA", f"{run} trained",
                  [key for key in plan.metrics if _scored_by_the_moving_average(results, run, key)]) for run in runs]
        both = {f"{run} {weights}" for run in repeated for weights in ("EMA", "trained")}
        out["ema_against_trained"] = _compare_pairs(spec, plan, ema_against_trained_view(results, runs),
                                                    ema_against_trained_view(again, runs), pairs, waits, both)
    return out
