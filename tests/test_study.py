"""The evaluation command and the resumable study runner, end to end on tiny runs."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from memorygan_tf import evaluation, study
from tests.helpers import ROOT, TINY_FLAGS, assert_one_line_error, blobs


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labelled")
    images = blobs(96)[..., 0]
    labels = (np.arange(96) % 3).astype(np.uint8)
    path = str(folder / "blobs.npz")
    np.savez(path, x_train=images[:64], y_train=labels[:64], x_test=images[64:], y_test=labels[64:])
    classifier = str(folder / "classifier")
    evaluation.train_classifier(images[:64, ..., None], labels[:64], images[64:, ..., None], labels[64:],
                                classifier, epochs=1, batch_size=16, flip=False, width=4, verbose=0)
    with open(os.path.join(classifier, "classifier.json"), "w") as f:
        json.dump({"test_accuracy": 0.0}, f)
    return path, classifier


@pytest.mark.slow
def test_study_trains_scores_and_resumes(labelled, tmp_path):
    data_path, classifier = labelled
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(dict(
        name="tiny", common_flags=["--dataset=custom", f"--data_path={data_path}", "--batch_size=8",
                                   "--num_sample_images=4", *TINY_FLAGS],
        rounds=[1], steps_per_epoch=2, num_samples=20,
        runs={"memory": ["--kappa=10"], "dcgan": ["--use_memory=false"]})))
    root = tmp_path / "runs"
    command = [sys.executable, os.path.join(ROOT, "tools", "run_study.py"), f"--spec={spec_path}",
               f"--root={root}", f"--classifier={classifier}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    for run in ("memory", "dcgan"):
        with open(root / "tiny" / run / "seed_0" / "eval" / "step_00000002.json") as f:
            result = json.load(f)
        assert result["step"] == 2 and result["num_samples"] == 20
        assert result["inception_score"] >= 1.0 - 1e-6 and result["fid"] >= 0.0
        if run == "memory":
            assert result["real_slots"] > 0 and 0.0 <= result["cluster_purity"] <= 1.0
            assert "purity" not in result  # one name for one number
        else:
            assert "real_slots" not in result
    assert "| memory | 1 |" in first.stdout and "| dcgan | 1 |" in first.stdout
    # A second call finds everything done: no training, no evaluation.
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0
    assert "train " not in second.stdout and "evaluate " not in second.stdout
    results = json.loads((root / "tiny" / "results.json").read_text())
    assert set(results) == {"memory", "dcgan"}

    # The same checkpoint scored with a flatter slot draw: its own folder, the run's score
    # untouched, and a prior at least as spread (entropy grows with T).
    run = root / "tiny" / "memory" / "seed_0"
    own = (run / "eval" / "step_00000002.json").read_text()
    tempered = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "evaluate.py"), f"--logdir={run}",
                               f"--classifier={classifier}", "--num_samples=20", "--splits=2",
                               "--prior_temperature=4"], capture_output=True, text=True, env=env, timeout=600)
    assert tempered.returncode == 0, tempered.stdout[-2000:] + tempered.stderr[-2000:]
    hot = json.loads((run / "eval" / "prior_temperature_4" / "step_00000002.json").read_text())
    base = json.loads(own)
    assert hot["prior_temperature"] == 4.0 and base["prior_temperature"] == 1.0
    assert hot["effective_slots"] >= base["effective_slots"] - 1e-6
    assert (run / "eval" / "step_00000002.json").read_text() == own


def test_study_plan_is_round_by_round():
    spec = study.StudySpec(name="s", common_flags=(), rounds=(1, 3), runs={"a": (), "b": ()}, seeds=(0, 1))
    assert study.plan(spec) == [(1, "a", 0), (1, "b", 0), (1, "a", 1), (1, "b", 1),
                                (3, "a", 0), (3, "b", 0), (3, "a", 1), (3, "b", 1)]
    assert study.plan(spec, runs=["b"]) == [(1, "b", 0), (1, "b", 1), (3, "b", 0), (3, "b", 1)]
    assert study.plan(spec, seeds=[1]) == [(1, "a", 1), (1, "b", 1), (3, "a", 1), (3, "b", 1)]
    assert study.plan(spec, runs=["a"], seeds=[0], max_epochs=2) == [(1, "a", 0)]


@pytest.mark.messages
def test_evaluate_rejects_a_bad_logdir(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "evaluate.py"),
                             f"--logdir={tmp_path}"], capture_output=True, text=True, timeout=300)
    assert assert_one_line_error(result).startswith("error: --logdir:")


@pytest.mark.slow
def test_eval_every_epochs_logs_a_learning_curve(labelled, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    from tests.helpers import run_main

    data_path, classifier = labelled
    logdir = str(tmp_path / "run")
    result = run_main(["--dataset=custom", f"--data_path={data_path}", f"--logdir={logdir}", "--batch_size=8",
                       "--steps_per_epoch=2", "--epochs=2", "--num_sample_images=4", *TINY_FLAGS,
                       "--eval_every_epochs=1", f"--eval_classifier={classifier}", "--eval_samples=20"])
    assert result.returncode == 0, result.stderr[-3000:]
    acc = event_accumulator.EventAccumulator(os.path.join(logdir, "eval"), size_guidance={"tensors": 0})
    acc.Reload()
    steps = [e.step for e in acc.Tensors("eval/inception_score")]
    assert steps == [2, 4]
    assert {"eval/fid", "eval/cluster_purity", "eval/effective_slots"} <= set(acc.Tags()["tensors"])


@pytest.mark.messages
def test_eval_every_epochs_needs_a_classifier(labelled, tmp_path):
    from tests.helpers import run_main

    result = run_main(["--dataset=custom", f"--data_path={labelled[0]}", f"--logdir={tmp_path / 'r'}",
                       "--eval_every_epochs=1"])
    assert assert_one_line_error(result).startswith("error: --eval_classifier:")


def test_classifier_reference_on_real_test_images(labelled):
    data_path, classifier = labelled
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train_classifier.py"),
                             "--dataset=custom", f"--data_path={data_path}", f"--out={classifier}",
                             "--reference_only"], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(classifier, "classifier.json")) as f:
        reference = json.load(f)["real_test_reference"]
    assert reference["test_inception_score"] >= 1.0 - 1e-6
    assert 0.0 <= reference["fid_test_halves"]


def test_study_scores_again_with_another_classifier(tmp_path):
    """An evaluation counts as done only for the classifier that made it; another classifier
    scores every run again (training nothing) and the old score moves to eval/superseded/."""
    tools = tmp_path / "tools"
    tools.mkdir()
    # A stand-in for tools/evaluate.py: records which classifier scored which checkpoint.
    (tools / "evaluate.py").write_text(
        "import json, os, sys\n"
        "args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
        "step = int(args['checkpoint'].rsplit('-', 1)[1])\n"
        "path = os.path.join(args['logdir'], 'eval', f'step_{step:08d}.json')\n"
        "os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "json.dump(dict(step=step, fid=1.0, classifier=dict(path=os.path.abspath(\n"
        "    os.path.join(args['classifier'], 'classifier.keras')))), open(path, 'w'))\n")
    spec = study.StudySpec(name="s", common_flags=(), rounds=(1,), runs={"a": (), "b": ()}, steps_per_epoch=5)
    for run in ("a", "b"):  # trained already: no training job may start
        checkpoints = tmp_path / "root" / "s" / run / "seed_0" / "checkpoints"
        checkpoints.mkdir(parents=True)
        (checkpoints / "ckpt-5.index").write_text("")
    messages = []

    def run_with(classifier):
        messages.clear()
        return study.run_study(spec, str(tmp_path / "root"), str(tmp_path / classifier), str(tools),
                               log=messages.append)

    results = run_with("old")
    assert sorted(results) == ["a", "b"] and len(messages) == 2 and "evaluate a" in messages[0]
    assert results["a"][0][5]["classifier"]["path"].endswith(os.path.join("old", "classifier.keras"))
    assert run_with("old") and messages == []  # done: nothing again
    results = run_with("new")
    assert sum("another classifier" in m for m in messages) == 2
    for run in ("a", "b"):
        assert results[run][0][5]["classifier"]["path"].endswith(os.path.join("new", "classifier.keras"))
        superseded = list((tmp_path / "root" / "s" / run / "seed_0" / "eval" / "superseded").glob("step_00000005.*.json"))
        assert len(superseded) == 1 and "old" in json.loads(superseded[0].read_text())["classifier"]["path"]
    assert not any("train " in m for m in messages)


def test_summary_table_gives_mean_std_and_each_seed():
    spec = study.StudySpec(name="s", common_flags=(), rounds=(1,), runs={"a": (), "b": (), "c": ()},
                           seeds=(0, 1), steps_per_epoch=5)
    results = {"a": {1: {5: dict(inception_score=4.0, fid=12.0, real_slots=10)},
                     0: {5: dict(inception_score=5.0, fid=10.0, real_slots=20)}},
               "b": {0: {5: dict(inception_score=3.0, fid=30.0)}}}
    lines = study.summary_table(spec, results, 5).splitlines()
    assert lines[0].startswith("| run | seeds | IS | FID | KID | precision | recall | real slots |")
    a = [cell.strip() for cell in lines[2].split("|")[1:-1]]
    # sample std (n - 1): |5 - 4| / sqrt(2) = 0.71, |10 - 12| / sqrt(2) = 1.4, |20 - 10| / sqrt(2) = 7.1
    assert a[:5] == ["a", "2", "4.5 +- 0.71 (5 / 4)", "11 +- 1.4 (10 / 12)", "-"] and a[7] == "15 +- 7.1"
    b = [cell.strip() for cell in lines[3].split("|")[1:-1]]
    assert b[:4] == ["b", "1", "3", "30"] and b[7] == "-"
    assert len(lines) == 4  # c has no result: no row
    counts = {"a": {0: {5: dict(real_slots=1224)}, 1: {5: dict(real_slots=870)}}}
    assert "| a | 2 | - | - | - | - | - | 1047 +- 250 |" in study.summary_table(spec, counts, 5)  # 354 / sqrt(2)


def test_study_train_only_then_score_only(tmp_path, monkeypatch):
    """--noevaluate trains every round and scores nothing; --notrain scores the rounds
    whose checkpoint exists, with the full evaluation's sample count at its rounds, and
    trains nothing (one process trains while another scores)."""
    calls = []

    def fake_call(command, env, logdir, log_name):
        calls.append((log_name, command))
        if log_name == "train.log":  # the trainer leaves the round's checkpoint
            epochs = int([c for c in command if c.startswith("--epochs=")][0].split("=")[1])
            folder = os.path.join(logdir, "checkpoints")
            os.makedirs(folder, exist_ok=True)
            open(os.path.join(folder, f"ckpt-{epochs * 5}.index"), "w").close()

    monkeypatch.setattr(study, "_call", fake_call)
    spec = study.StudySpec(name="s", common_flags=("--dataset=mnist",), rounds=(1, 2, 3), runs={"a": ()},
                           steps_per_epoch=5, num_samples=50, full_rounds=(1, 3), full_samples=200)
    assert study.dataset_of(spec) == "mnist" and [study.samples_at(spec, e) for e in (1, 2, 3)] == [200, 50, 200]
    root = str(tmp_path / "root")
    study.run_study(spec, root, "clf", "tools", log=lambda m: None, evaluate=False, max_epochs=2)
    assert [(name, c[-1]) for name, c in calls] == [("train.log", f"--logdir={study.run_dir(root, spec, 'a', 0)}")] * 2
    assert [c for _, command in calls for c in command if c.startswith("--epochs=")] == ["--epochs=1", "--epochs=2"]
    calls.clear()
    study.run_study(spec, root, "clf", "tools", log=lambda m: None, train=False)
    # rounds 1 and 2 (3 not trained); round 1, a full round, also with the curve's count
    assert [name for name, _ in calls] == ["evaluate.log"] * 3
    samples = [c for _, command in calls for c in command if c.startswith("--num_samples=")]
    assert samples == ["--num_samples=200", "--num_samples=50", "--num_samples=50"]
    outs = [[c for c in command if c.startswith("--out=")] for _, command in calls]
    curve = study.curve_evaluation_path(study.run_dir(root, spec, "a", 0), 5)
    assert outs == [[], [f"--out={curve}"], []] and "--notensorboard" in calls[1][1]


def test_learning_curve_takes_every_point_at_one_sample_count(tmp_path):
    """A full round is scored twice (its table count and the curve's); collect keeps both,
    curve_view gives every epoch at the curve's count and leaves out a full round whose
    second score is missing; the first score's classifier decides nothing about the second."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "evaluate.py").write_text(  # writes fid = images scored, to --out or the usual path
        "import json, os, sys\n"
        "args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if '=' in a)\n"
        "step = int(args['checkpoint'].rsplit('-', 1)[1])\n"
        "path = args.get('out') or os.path.join(args['logdir'], 'eval', f'step_{step:08d}.json')\n"
        "if 'out' not in args:  # like tools/evaluate.py: --out's folder must exist\n"
        "    os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "assert os.path.isdir(os.path.dirname(path)), path\n"
        "json.dump(dict(step=step, fid=float(args['num_samples']), classifier=dict(path=os.path.abspath(\n"
        "    os.path.join(args['classifier'], 'classifier.keras')))), open(path, 'w'))\n")
    spec = study.StudySpec(name="s", common_flags=(), rounds=(1, 2, 3), runs={"a": ()}, seeds=(0, 1),
                           steps_per_epoch=5, num_samples=50, full_rounds=(1, 3), full_samples=200)
    root = tmp_path / "root"
    for seed in (0, 1):
        checkpoints = root / "s" / "a" / f"seed_{seed}" / "checkpoints"
        checkpoints.mkdir(parents=True)
        for step in (5, 10, 15):
            (checkpoints / f"ckpt-{step}.index").write_text("")
    messages = []
    results = study.run_study(spec, str(root), str(tmp_path / "clf"), str(tools), log=messages.append)
    assert sum("evaluate " in m for m in messages) == 2 * 5  # per seed: 3 rounds + 2 curve scores
    assert {step: r["fid"] for step, r in results["a"][0].items()} == {5: 200.0, 10: 50.0, 15: 200.0}
    assert results["a"][0][5]["curve_evaluation"]["fid"] == 50.0 and "curve_evaluation" not in results["a"][0][10]
    view = study.curve_view(spec, results)
    assert {step: r["fid"] for step, r in view["a"][1].items()} == {5: 50.0, 10: 50.0, 15: 50.0}
    os.remove(study.curve_evaluation_path(study.run_dir(str(root), spec, "a", 1), 15))
    view = study.curve_view(spec, study.collect(spec, str(root)))
    assert sorted(view["a"][1]) == [5, 10] and sorted(view["a"][0]) == [5, 10, 15]
    messages.clear()  # only the missing one is scored again; a checkpoint gone is said, not trained
    os.remove(root / "s" / "a" / "seed_1" / "checkpoints" / "ckpt-15.index")
    study.run_study(spec, str(root), str(tmp_path / "clf"), str(tools), log=messages.append)
    assert len(messages) == 1 and "no checkpoint left" in messages[0]
    assert not any("train " in m for m in messages)
    # Without a full evaluation (or with the same count) nothing is scored twice.
    plain = dataclasses.replace(spec, full_rounds=(), full_samples=0)
    assert not study.needs_curve_evaluation(plain, 1) and study.curve_view(plain, results) == results


def test_curve_table_rows_are_rounds_with_seed_means():
    spec = study.StudySpec(name="s", common_flags=(), rounds=(1, 2, 3), runs={"m": (), "d": ()}, seeds=(0, 1),
                           steps_per_epoch=5)
    results = {"m": {0: {5: dict(fid=10.0, inception_score=5.0, recall=0.5), 10: dict(fid=8.0)},
                     1: {5: dict(fid=14.0, inception_score=4.0, recall=0.25), 10: dict(fid=6.0)}},
               "d": {0: {5: dict(fid=20.0), 10: dict(fid=30.0)}}}
    lines = study.curve_table(spec, results, columns=(("fid", "FID"), ("recall", "recall"))).splitlines()
    assert lines[0] == "| epoch | FID m | FID d | recall m | recall d |" and len(lines) == 4  # no row for epoch 3
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["1", "12 (10 / 14)", "20 (20 / -)", "0.375 (0.5 / 0.25)", "-"]
    assert [c.strip() for c in lines[3].split("|")[1:-1]] == ["2", "7 (8 / 6)", "30 (30 / -)", "-", "-"]
    counts = {"m": {0: {5: dict(keys=1531)}, 1: {5: dict(keys=1216)}}}
    assert "| 1 | 1374 (1531 / 1216) | - |" in study.curve_table(spec, counts, columns=(("keys", "keys"),))
