"""The report of a study: its tables, its comparisons with their statistics, and its JSON.

    python tools/study_report.py --spec=flags/studies/fashion_mnist_fair.json --root=runs/studies \
        --repeat_spec=flags/studies/fashion_mnist_fair_repeat.json --out=docs/results/fashion_mnist_fair.json

Reads what a study (tools/run_study.py) has scored so far; trains and scores nothing.
Prints, for the trained weights and for the generator's moving average: a table per round
(mean +- std over seeds, each seed), the learning curves, and every comparison the spec's
"report" fixes (Welch's p, a bootstrap CI over seeds, one seed's rerun spread from the
repeat study, the verdict). --out writes all of it with every evaluation (each records the
run's full config, its classifier, sample count and machine). A thin wrapper over
memorygan_tf.study.

A study whose run folders are gone (trained on another machine) keeps its committed report;
seeds of its repeat study trained again elsewhere join it with --base_report (scores of
another classifier only by what needs none: the memory's and its clusters'):

    python tools/study_report.py --spec=flags/studies/fashion_mnist_fair.json --root=NEW \
        --repeat_spec=flags/studies/fashion_mnist_fair_repeat.json \
        --base_report=docs/results/fashion_mnist_fair.json --out=docs/results/fashion_mnist_fair.json
"""

import json
import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS
flags.DEFINE_string("spec", None, "Study spec (JSON), e.g. flags/studies/fashion_mnist_fair.json.")
flags.DEFINE_string("root", "runs/studies", "Where the study's run directories are.")
flags.DEFINE_string("repeat_spec", None, "The study that trains some seeds again with the same flags "
                    "(its runs' names as in --spec): the run-to-run spread a verdict must clear.")
flags.DEFINE_string("out", None, "Write the report as JSON here.")
flags.DEFINE_string("base_report", None, "Take the study's scores and its repeat's from this report JSON (e.g. "
                    "docs/results/<study>.json of runs trained on a machine that is gone) instead of --root; the "
                    "repeat study's scores under --root join them where it has none (of another classifier: "
                    "only the scores that need no classifier, the memory's and its clusters').")
flags.DEFINE_boolean("drop_missing", False, "Write --out even if it then loses scores the file at --out "
                     "holds that --root no longer has (by default that is refused: a report in "
                     "docs/results may be all that is left of runs trained on another machine).")
flags.mark_flags_as_required(["spec"])


def main(argv):
    del argv
    from memorygan_tf import study
    from memorygan_tf.cli import fail

    specs = {}
    for flag, path in (("spec", FLAGS.spec), ("repeat_spec", FLAGS.repeat_spec)):
        if path is None:
            continue
        try:
            specs[flag] = study.load_spec(path)
        except (OSError, ValueError, study.StudyError) as err:
            return fail(f"--{flag}: {path}: {getattr(err, 'strerror', None) or str(err).splitlines()[0]}")
    spec = specs["spec"]
    try:
        plan = study.load_report_plan(FLAGS.spec, spec)
    except study.StudyError as err:
        return fail(f"--spec: {FLAGS.spec}: {err}")
    if FLAGS.out and not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.out))):
        return fail(f"--out: the folder of {FLAGS.out} does not exist")
    results = study.collect(spec, FLAGS.root)
    repeat = study.collect(specs["repeat_spec"], FLAGS.root) if "repeat_spec" in specs else None
    if FLAGS.base_report:
        if "repeat_spec" not in specs:
            return fail("--base_report: give --repeat_spec too (what joins the report is its repeat study's runs)")
        try:
            with open(FLAGS.base_report) as f:
                base = json.load(f)
        except (OSError, ValueError) as err:
            return fail(f"--base_report: {FLAGS.base_report}: {getattr(err, 'strerror', None) or err}")
        base_name = (base.get("spec") or {}).get("name") if isinstance(base, dict) else None
        if base_name != spec.name:
            return fail(f"--base_report: {FLAGS.base_report} is not a report of --spec's study {spec.name!r} "
                        f"(its spec names {base_name!r})")
        if results:
            return fail(f"--base_report: --root={FLAGS.root} holds runs of {spec.name} too; report them without "
                        f"--base_report, or the other scores with another --root")
        results, repeat = study.join_repeat(base, repeat)
    for view_name, view in (("trained weights", results), ("moving average of the generator",
                                                          study.ema_view(results))):
        for epochs in spec.rounds:
            table = study.summary_table(spec, view, epochs * spec.steps_per_epoch)
            if len(table.splitlines()) > 2:
                print(f"\n## {spec.name}, epoch {epochs}, {view_name} "
                      f"({study.samples_at(spec, epochs)} images)\n\n{table}")
        print(f"\n## {spec.name}: learning curves, {view_name} ({spec.num_samples} images at every round; "
              f"seed mean (each seed))\n\n{study.curve_table(spec, study.curve_view(spec, view))}")
    comparisons = study.report_comparisons(spec, plan, results, repeat,
                                           specs["repeat_spec"].runs if "repeat_spec" in specs else None)
    for view_name, rows in comparisons.items():
        what = ("each run's moving average against its trained weights" if view_name == "ema_against_trained"
                else f"{view_name} weights")
        print(f"\n## {spec.name}: comparisons fixed in the spec, {what}\n")
        print(study.comparison_table(rows))
    if FLAGS.out and os.path.exists(FLAGS.out) and not FLAGS.drop_missing:
        with open(FLAGS.out) as f:
            lost = study.dropped_scores(json.load(f), results, repeat)
        if lost:
            return fail(f"--out: {FLAGS.out} holds {len(lost)} scores that --root={FLAGS.root} lacks "
                        f"(e.g. {lost[0]}); not overwritten (--drop_missing writes it anyway)")
    if FLAGS.out:
        with open(FLAGS.spec) as f:
            raw_spec = json.load(f)
        report = dict(spec=raw_spec, results=results, comparisons=comparisons)
        if "repeat_spec" in specs:
            with open(FLAGS.repeat_spec) as f:
                report.update(repeat_spec=json.load(f), repeat_results=repeat)
        with open(FLAGS.out + ".tmp", "w") as f:
            json.dump(report, f, indent=1)
        os.replace(FLAGS.out + ".tmp", FLAGS.out)
        print(f"\nWrote {FLAGS.out}")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
