"""The evaluation command and the resumable study runner, end to end on tiny runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from memorygan_tf import evaluation, study
from tests.helpers import ROOT, TINY_FLAGS, blobs


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
            assert result["real_slots"] > 0 and 0.0 <= result["purity"] <= 1.0
        else:
            assert "real_slots" not in result
    assert "| memory | 1 |" in first.stdout and "| dcgan | 1 |" in first.stdout
    # A second call finds everything done: no training, no evaluation.
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0
    assert "train " not in second.stdout and "evaluate " not in second.stdout
    results = json.loads((root / "tiny" / "results.json").read_text())
    assert set(results) == {"memory", "dcgan"}


def test_study_plan_is_round_by_round():
    spec = study.StudySpec(name="s", common_flags=(), rounds=(1, 3), runs={"a": (), "b": ()}, seeds=(0, 1))
    assert study.plan(spec) == [(1, "a", 0), (1, "b", 0), (1, "a", 1), (1, "b", 1),
                                (3, "a", 0), (3, "b", 0), (3, "a", 1), (3, "b", 1)]
    assert study.plan(spec, runs=["b"]) == [(1, "b", 0), (1, "b", 1), (3, "b", 0), (3, "b", 1)]
    assert study.plan(spec, seeds=[1]) == [(1, "a", 1), (1, "b", 1), (3, "a", 1), (3, "b", 1)]


def test_evaluate_rejects_a_bad_logdir(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "evaluate.py"),
                             f"--logdir={tmp_path}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: --logdir:") and "\n" not in result.stderr.strip()


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
    assert {"eval/fid", "eval/purity", "eval/effective_slots"} <= set(acc.Tags()["tensors"])


def test_eval_every_epochs_needs_a_classifier(labelled, tmp_path):
    from tests.helpers import run_main

    result = run_main(["--dataset=custom", f"--data_path={labelled[0]}", f"--logdir={tmp_path / 'r'}",
                       "--eval_every_epochs=1"])
    assert result.returncode == 2 and result.stderr.strip().startswith("error: --eval_classifier:")


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
