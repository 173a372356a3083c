"""Statistics of a study's report: Welch's p, the bootstrap CI, verdicts, the EMA view."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from memorygan_tf import study
from tests.helpers import ROOT, assert_one_line_error


def _results(run_values, key="fid", step=10, ema=None):
    """collect()-shaped results: {run: {seed: {step: {key: value}}}}."""
    out = {}
    for run, values in run_values.items():
        for seed, value in enumerate(values):
            result = {key: value}
            if ema is not None:
                result["ema"] = {key: ema[run][seed]}
            out.setdefault(run, {}).setdefault(seed, {})[step] = result
    return out


def test_welch_p_by_hand():
    # means 2 and 5, variances 1 and 1: t = -3 / sqrt(2/3) = -3.674, Welch's df = 4,
    # two-sided p = 2 * P(T_4 > 3.674) = 0.02131 (t table)
    assert study.welch_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.02131, abs=2e-5)
    assert np.isnan(study.welch_p([1.0], [2.0, 3.0]))  # one value: no variance estimate


def test_bootstrap_ci_brackets_the_difference_and_excludes_zero_when_clear():
    low, high = study.bootstrap_ci([10.0, 11.0, 12.0], [20.0, 21.0, 22.0])
    assert low <= -10.0 <= high and high < 0
    low, high = study.bootstrap_ci([10.0, 20.0, 30.0], [12.0, 22.0, 28.0])
    assert low < 0 < high


def test_verdicts_need_three_seeds_a_small_p_and_to_clear_the_rerun_spread():
    clear = _results({"a": [10.0, 11.0, 12.0], "b": [20.0, 21.0, 22.0]})
    c = study.compare(clear, 10, "a", "b", "fid")
    assert c["verdict"] == "a better" and c["diff"] == pytest.approx(-10.0)  # lower FID is better
    assert study.compare(clear, 10, "a", "b", "inception_score")["verdict"] == "not scored"
    assert study.compare(_results({"a": [10.0, 11.0, 12.0], "b": [20.0, 21.0, 22.0]}, key="inception_score"),
                         10, "a", "b", "inception_score")["verdict"] == "b better"  # higher IS is better
    assert study.compare(clear, 10, "a", "b", "fid", spread=12.0)["verdict"] == "level"
    two_seeds = _results({"a": [10.0, 11.0], "b": [20.0, 21.0]})
    assert study.compare(two_seeds, 10, "a", "b", "fid")["verdict"] == "level"
    noisy = _results({"a": [10.0, 30.0, 20.0], "b": [12.0, 28.0, 22.0]})
    assert study.compare(noisy, 10, "a", "b", "fid")["verdict"] == "level"
    # A repeat study in the protocol: no verdict before its spread is measured, then the gap must clear it.
    assert study.compare(clear, 10, "a", "b", "fid", require_spread=True)["verdict"].startswith("pending: a ahead")
    assert study.compare(clear, 10, "a", "b", "fid", spread=3.0, require_spread=True)["verdict"] == "a better"
    assert study.compare(noisy, 10, "a", "b", "fid", require_spread=True)["verdict"] == "level"


def test_rerun_spread_is_the_largest_gap_of_a_seed_trained_twice():
    first = _results({"a": [10.0, 11.0, 12.0]})
    again = _results({"a": [13.5]})
    assert study.rerun_spread(first, again, "a", 10, "fid") == pytest.approx(3.5)
    assert study.rerun_spread(first, {}, "a", 10, "fid") is None


def test_ema_view_takes_the_moving_averages_scores():
    results = _results({"a": [10.0, 11.0]}, ema={"a": [8.0, 9.0]})
    results["a"][0][10]["real_slots"] = 7  # the test-set report is the run's, kept
    view = study.ema_view(results)
    assert view["a"][0][10]["fid"] == 8.0 and view["a"][1][10]["fid"] == 9.0
    assert view["a"][0][10]["real_slots"] == 7 and "ema" not in view["a"][0][10]


def test_report_plan_is_read_from_the_spec_and_checked(tmp_path):
    raw = dict(name="s", rounds=[1, 3], runs={"a": [], "b": []}, seeds=[0, 1, 2],
               report=dict(comparisons=[["a", "b"]], verdict_rounds=[3]))
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(raw))
    spec = study.load_spec(str(path))
    plan = study.load_report_plan(str(path), spec)
    assert plan.comparisons == (("a", "b"),) and plan.verdict_rounds == (3,)
    results = _results({"a": [10.0, 11.0, 12.0], "b": [20.0, 21.0, 22.0]}, step=3 * spec.steps_per_epoch,
                       ema={"a": [20.0, 21.0, 22.0], "b": [10.0, 11.0, 12.0]})
    rows = study.report_comparisons(spec, plan, results)
    assert [r["verdict"] for r in rows["trained"] if r["metric"] == "fid"] == ["a better"]
    assert [r["verdict"] for r in rows["ema"] if r["metric"] == "fid"] == ["b better"]
    assert "a better" in study.comparison_table(rows["trained"])
    # With a repeat study whose seeds are not scored yet, the verdicts wait for its spread.
    waiting = study.report_comparisons(spec, plan, results, repeat_results={})
    assert [r["verdict"] for r in waiting["trained"] if r["metric"] == "fid"] == [
        "pending: a ahead, one seed's rerun spread not measured"]
    # Both sides trained again: with only a's spread scored (1.0), b's may be the larger, so
    # the pair still waits; with b's (2.5) too, the gap of 10 clears the larger of the two.
    step = 3 * spec.steps_per_epoch
    half = _results({"a": [11.0]}, step=step)
    fid = lambda rows: [(r["spread"], r["verdict"]) for r in rows["trained"] if r["metric"] == "fid"]
    assert fid(study.report_comparisons(spec, plan, results, half, repeat_runs=["a", "b"])) == [
        (None, "pending: a ahead, one seed's rerun spread not measured")]
    assert fid(study.report_comparisons(spec, plan, results, half, repeat_runs=["a"])) == [(1.0, "a better")]
    both = _results({"a": [11.0], "b": [22.5]}, step=step)
    assert fid(study.report_comparisons(spec, plan, results, both, repeat_runs=["a", "b"])) == [
        (pytest.approx(2.5), "a better")]
    raw["report"]["comparisons"] = [["a", "c"]]
    path.write_text(json.dumps(raw))
    with pytest.raises(study.StudyError, match="comparisons"):
        study.load_report_plan(str(path), spec)


def test_moving_average_against_trained_weights_of_one_run(tmp_path):
    raw = dict(name="s", rounds=[3], runs={"a": [], "b": []}, seeds=[0, 1, 2],
               report=dict(comparisons=[], verdict_rounds=[3], metrics=["fid", "cluster_purity_top"],
                           ema_against_trained=["a"]))
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(raw))
    spec = study.load_spec(str(path))
    plan = study.load_report_plan(str(path), spec)
    assert plan.ema_against_trained == ("a",)
    step = 3 * spec.steps_per_epoch
    results = _results({"a": [10.0, 11.0, 12.0], "b": [1.0, 1.0, 1.0]}, step=step,
                       ema={"a": [5.0, 6.0, 7.0], "b": [9.0, 9.0, 9.0]})
    for seed, purity in enumerate([0.4, 0.5, 0.6]):
        results["a"][seed][step]["cluster_purity_top"] = purity
    rows = study.report_comparisons(spec, plan, results)["ema_against_trained"]
    assert len(rows) == 1  # run "b" is not asked for; purity is the discriminator's, the same for both weights
    (row,) = rows
    assert (row["a"], row["b"], row["values_a"], row["values_b"]) == ("a EMA", "a trained", [5.0, 6.0, 7.0],
                                                                      [10.0, 11.0, 12.0])
    assert row["diff"] == pytest.approx(-5.0) and row["verdict"] == "a EMA better"
    # the rerun spread is the larger of the two weights' (seed 0 trained again: 10 -> 10.5, 5 -> 11)
    again = _results({"a": [10.5]}, step=step, ema={"a": [11.0]})
    (row,) = study.report_comparisons(spec, plan, results, repeat_results=again)["ema_against_trained"]
    assert row["spread"] == pytest.approx(6.0) and row["verdict"] == "level"  # a gap of 5 inside a spread of 6
    raw["report"]["ema_against_trained"] = ["c"]
    path.write_text(json.dumps(raw))
    with pytest.raises(study.StudyError, match="ema_against_trained"):
        study.load_report_plan(str(path), spec)


def test_shipped_fair_specs_report_plans_load():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(here, "flags", "studies", "fashion_mnist_fair.json")
    spec = study.load_spec(path)
    assert spec.name == "fashion_mnist_fair"  # the run directories' folder: a wrong name loses a study's runs
    plan = study.load_report_plan(path, spec)
    assert ("memorygan", "dcgan") in plan.comparisons and plan.verdict_rounds == (3, 10)
    assert "memorygan" in plan.ema_against_trained  # which weights the export serves
    for name in ("fashion_mnist_fair", "affine_mnist_fair", "mnist_peers_fair", "fashion_mnist_table2_fair"):
        spec = study.load_spec(os.path.join(here, "flags", "studies", f"{name}.json"))
        repeat = study.load_spec(os.path.join(here, "flags", "studies", f"{name}_repeat.json"))
        assert repeat.name == f"{name}_repeat" and repeat.common_flags == spec.common_flags
        assert set(repeat.runs) <= set(spec.runs) and all(repeat.runs[r] == spec.runs[r] for r in repeat.runs)
        assert all(r in spec.rounds and study.samples_at(repeat, r) == study.samples_at(spec, r) for r in repeat.rounds)
    affine = os.path.join(here, "flags", "studies", "affine_mnist_fair.json")
    assert study.load_report_plan(affine, study.load_spec(affine)).verdict_rounds == (1,)
    peers = os.path.join(here, "flags", "studies", "mnist_peers_fair.json")
    assert study.load_report_plan(peers, study.load_spec(peers)).comparisons == (("memorygan", "dcgan"),)


def test_dropped_scores_are_those_a_rewritten_report_would_lose():
    old = json.loads(json.dumps(dict(results=_results({"a": [1.0, 2.0], "b": [3.0]}),
                                     repeat_results=_results({"a": [1.5]}))))  # keys become strings
    assert study.dropped_scores(old, _results({"a": [1.0, 2.0], "b": [3.0]}), _results({"a": [1.5]})) == []
    assert study.dropped_scores(old, _results({"a": [1.0, 2.0, 9.0], "b": [3.0], "c": [1.0]}),
                                _results({"a": [1.5]})) == []
    assert study.dropped_scores(old, _results({"a": [1.0]}), None) == [
        "repeat/a/0/10", "results/a/1/10", "results/b/0/10"]
    assert study.dropped_scores({}, {}, None) == []


def test_study_report_refuses_to_overwrite_scores_its_root_lacks(tmp_path):
    out = tmp_path / "report.json"
    out.write_text(json.dumps(dict(results=_results({"memorygan": [5.0]}))))
    tool = [sys.executable, os.path.join(ROOT, "tools", "study_report.py"),
            f"--spec={os.path.join(ROOT, 'flags', 'studies', 'affine_mnist_fair.json')}",
            f"--root={tmp_path / 'empty'}", f"--out={out}"]
    assert_one_line_error(subprocess.run(tool, capture_output=True, text=True, cwd=tmp_path),
                          "--out", "1 scores", "--drop_missing")
    assert json.loads(out.read_text())["results"]["memorygan"]["0"]["10"] == {"fid": 5.0}
    forced = subprocess.run(tool + ["--drop_missing"], capture_output=True, text=True, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(out.read_text())["results"] == {}


def test_join_repeat_adds_another_classifiers_rerun_only_by_its_classifier_free_scores():
    own, other = {"path": "c", "test_accuracy": 0.93}, {"path": "c", "test_accuracy": 0.92}
    score = lambda fid, purity, classifier: dict(fid=fid, cluster_purity_top=purity, recall=0.1, step=10,
                                                 classifier=classifier, ema=dict(fid=fid - 1, recall=0.2))
    report = json.loads(json.dumps(dict(  # as committed: string keys
        results={"a": {s: {10: score(f, p, own)} for s, (f, p) in enumerate([(5, .30), (6, .31), (7, .32)])},
                 "b": {s: {10: score(f, p, own)} for s, (f, p) in enumerate([(9, .50), (9.5, .52), (10, .54)])}},
        repeat_results={"a": {0: {10: score(5.5, .305, own)}}})))
    again = {"b": {0: {10: score(30.0, .53, other)}}, "a": {0: {10: score(99.0, .99, own)}, 1: {10: score(6.2, .3, own)}}}
    results, repeat = study.join_repeat(report, again)
    assert results["a"][2][10]["fid"] == 7 and set(results) == {"a", "b"}  # int keys, as collect() gives
    assert repeat["a"][0][10]["fid"] == 5.5  # a committed score is never replaced
    assert repeat["a"][1][10]["fid"] == 6.2  # the report's own classifier: joins whole
    joined = repeat["b"][0][10]
    assert joined["cluster_purity_top"] == .53 and joined["classifier_free_only"] and joined["classifier"] == other
    assert "fid" not in joined and "recall" not in joined and joined["ema"] == {}
    # Its rerun spread counts for purity (|0.53 - 0.50| = 0.03 > a's 0.005), not for FID.
    plan = study.ReportPlan(comparisons=(("b", "a"),), verdict_rounds=(1,), metrics=("fid", "cluster_purity_top"))
    spec = dataclasses.replace(study.load_spec(os.path.join(ROOT, "flags", "studies", "mnist_peers_fair.json")),
                               steps_per_epoch=10)
    rows = {(view, row["metric"]): row for view, rows_ in study.report_comparisons(
        spec, plan, results, repeat, repeat_runs={"a", "b"}).items() for row in rows_}
    assert rows["trained", "cluster_purity_top"]["spread"] == pytest.approx(0.03)
    assert rows["trained", "cluster_purity_top"]["verdict"] == "b better"
    assert rows["ema", "cluster_purity_top"]["verdict"] == "b better"  # the clusters are the same for both weights
    assert rows["trained", "fid"]["spread"] is None and rows["trained", "fid"]["verdict"].startswith("pending")


def test_study_report_joins_a_rerun_to_a_committed_report_and_refuses_another_studys(tmp_path):
    base = os.path.join(ROOT, "docs", "results", "affine_mnist_fair.json")
    tool = [sys.executable, os.path.join(ROOT, "tools", "study_report.py"),
            f"--spec={os.path.join(ROOT, 'flags', 'studies', 'affine_mnist_fair.json')}",
            f"--repeat_spec={os.path.join(ROOT, 'flags', 'studies', 'affine_mnist_fair_repeat.json')}",
            f"--root={tmp_path / 'empty'}", f"--out={tmp_path / 'joined.json'}"]
    done = subprocess.run(tool + [f"--base_report={base}"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with open(base) as f:
        committed = json.load(f)
    joined = json.loads((tmp_path / "joined.json").read_text())
    # Nothing new to join: the committed report comes back, its verdicts recomputed to the same.
    assert joined["comparisons"] == committed["comparisons"] and joined["results"] == committed["results"]
    other = os.path.join(ROOT, "docs", "results", "mnist_peers_fair.json")
    assert_one_line_error(subprocess.run(tool + [f"--base_report={other}"], capture_output=True, text=True,
                                         cwd=tmp_path), "--base_report", "affine_mnist_fair")
