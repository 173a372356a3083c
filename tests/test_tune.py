"""tools/tune.py: keras-tuner over the config's declared search space, FID objective,
resumable, best trial -> a flagfile that main accepts."""

import os
import subprocess
import sys

import keras_tuner as kt
import numpy as np
import pytest

from memorygan_tf import configs, tuning
from tests.helpers import ROOT, TINY_FLAGS, assert_one_line_error, blobs, run_main


def test_search_space_is_the_config_fields_declarations():
    space = tuning.search_space()
    flags = [entry.flag for entry in space]
    kinds = {entry.flag: entry.kind for entry in space}
    assert kinds["kappa"] is float and kinds["choose_k"] is int and kinds["spectral_norm"] is bool
    for flag in ("kappa", "alpha", "choose_k", "memory_size", "key_dim", "mi_lambda", "learning_rate", "loss",
                 "d_steps", "label_smoothing", "feature_matching", "minibatch_discrimination",
                 "historical_averaging", "self_modulation", "spectral_norm"):
        assert flag in flags
    hp = kt.HyperParameters()
    values = tuning.declare(hp, space)
    assert set(values) == set(flags)
    assert values["spectral_norm"] is False
    # every value the space can produce makes a valid config
    config = configs.make_config("fashion_mnist", **{f"{s}_overrides": v for s, v in
                                                     tuning.overrides_from(values, space).items()})
    assert config.model.kappa == values["kappa"]
    with pytest.raises(configs.ConfigError, match="not searchable"):
        tuning.search_space(["kappa", "batch_size"])


def test_flag_lines():
    assert tuning.flag_line("spectral_norm", True) == "--spectral_norm"
    assert tuning.flag_line("spectral_norm", False) == "--nospectral_norm"
    assert tuning.flag_line("kappa", 12.5) == "--kappa=12.5"


def labelled_npz(path, n=256):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=blobs(n), y_train=rng.integers(0, 10, n), x_test=blobs(64, seed=1),
             y_test=rng.integers(0, 10, 64))


@pytest.mark.slow
def test_quick_search_two_trials_then_main_accepts_the_flagfile(tmp_path):
    data = tmp_path / "fm.npz"
    labelled_npz(data)
    directory, flagfile = tmp_path / "tune", tmp_path / "best.flags"
    command = [sys.executable, os.path.join(ROOT, "tools", "tune.py"), "--quick", "--dataset=fashion_mnist",
               f"--data_path={data}", f"--directory={directory}", f"--out_flagfile={flagfile}"]
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = sorted(p for p in os.listdir(directory / "memorygan") if p.startswith("trial_"))
    assert len(trials) == 2
    for trial in trials:
        assert (directory / "memorygan" / trial / "evaluation.json").exists()
        assert (directory / "memorygan" / trial / "run" / "checkpoints").is_dir()
    lines = flagfile.read_text().splitlines()
    assert "--dataset=fashion_mnist" in lines and any(line.startswith("--kappa=") for line in lines)
    assert any(line in ("--spectral_norm", "--nospectral_norm") for line in lines)  # booleans stay booleans
    assert f"--data_path={data}" in lines
    # rerunning continues the finished search instead of starting over
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Trial trial_" not in again.stdout
    # main accepts the flagfile as written
    run = run_main([f"--flagfile={flagfile}", f"--logdir={tmp_path / 'run'}", "--steps_per_epoch=2",
                    "--batch_size=16", *[f for f in TINY_FLAGS if not f.startswith(("--memory_size", "--choose_k",
                                                                                    "--key_dim"))]])
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.messages
@pytest.mark.parametrize("args, message", [
    (["--dataset=custom"], "labelled test split"),
    # the rest start a process each as well: with the slow tests
    *[pytest.param(args, message, marks=pytest.mark.slow) for args, message in [
        (["--search=kappa,batch_size"], "not searchable for --model=memorygan: batch_size"),
        (["--steps_per_epoch=0"], "--steps_per_epoch: must be positive"),  # main's rules, from its declarations
        (["--eval_samples=5"], "--eval_samples: must be at least 10"),
        (["--seed=-1"], "--seed: must lie in [0, 2^31)"),
        (["--max_trials=0"], "--max_trials: must be positive"),
    ]],
])
def test_tune_rejects_bad_input_in_one_line(tmp_path, args, message):
    data = tmp_path / "fm.npz"
    labelled_npz(data)
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tune.py"), f"--data_path={data}",
                             f"--directory={tmp_path / 'tune'}", *args], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"))
    assert_one_line_error(result, message)


@pytest.mark.slow
def test_hyperband_continues_a_promoted_trial_from_its_parent(tmp_path):
    """Hyperband's promoted trial loads its parent's weights (incl. the step and the memory),
    so it trains only the remaining epochs."""
    import json

    data = tmp_path / "fm.npz"
    labelled_npz(data)
    directory = tmp_path / "tune"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tune.py"), "--quick", "--tuner=hyperband",
                             "--epochs=3", "--search=kappa,loss", f"--data_path={data}", f"--directory={directory}"],
                            capture_output=True, text=True, timeout=900,
                            env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    promoted = 0
    for trial in (directory / "memorygan").glob("trial_*"):
        evaluation = json.loads((trial / "evaluation.json").read_text())
        values = evaluation["values"]
        assert evaluation["step"] == values["tuner/epochs"] * 2  # 2 steps per epoch in --quick
        if "tuner/trial_id" in values:
            promoted += 1
            log = (trial / "run" / "config.json").read_text()
            assert json.loads(log)["train"]["epochs"] == values["tuner/epochs"]
    assert promoted >= 1
    assert result.stdout.count("continues from step ") == promoted
    assert (directory / "best.flags").exists()


def test_search_space_holds_the_tuned_models_options_only():
    memorygan = {entry.flag for entry in tuning.search_space()}
    infogan = {entry.flag for entry in tuning.search_space(model="infogan")}
    dcgan = {entry.flag for entry in tuning.search_space(model="dcgan")}
    assert {"kappa", "memory_size", "mi_lambda"} <= memorygan and "info_lambda" not in memorygan
    assert "info_lambda" in infogan and not {"kappa", "memory_size", "mi_lambda"} & infogan
    assert dcgan == memorygan & infogan  # the generic options: learning rate, loss, training options
    assert "learning_rate" in dcgan
    with pytest.raises(configs.ConfigError, match="not searchable for --model=dcgan: kappa"):
        tuning.search_space(["kappa"], model="dcgan")
