"""The command line: flag validation and a short end-to-end run with resume."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import TINY_FLAGS, assert_one_line_error, run_main


@pytest.mark.messages
@pytest.mark.parametrize("args,flag", [
    (["--dataset=imagenet"], "--dataset"),
    (["--choose_k=5000"], "--choose_k"),
    (["--memory_size=0"], "--memory_size"),
    (["--batch_size=-3"], "--batch_size"),
    (["--dataset=custom"], "--data_path"),
    (["--data_path=/nonexistent/file.npz"], "--data_path"),
    (["--memory_size=100", "--choose_k=10"], "--memory_size"),  # fewer slots than 2 x batch
    (["--kappa=0"], "--kappa"),
    (["--kappa=-1"], "--kappa"),
    (["--kappa=nan"], "--kappa"),
    (["--learning_rate=nan"], "--learning_rate"),
    (["--mi_lambda=nan"], "--mi_lambda"),
    (["--beta=-1"], "--beta"),
    (["--writes_per_step=2"], "--writes_per_step"),
])
def test_bad_flags_stop_with_one_line(args, flag, capsys):
    from absl import flags

    from memorygan_tf import main

    flags.FLAGS.unparse_flags()
    flags.FLAGS(["memorygan", *args])
    try:
        assert main.run() == 2
    finally:
        flags.FLAGS.unparse_flags()
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and flag in err and "\n" not in err, err


@pytest.mark.messages
def test_bad_flag_in_subprocess_has_no_traceback(npz):
    result = run_main([f"--data_path={npz}", "--dataset=cifar10", "--logdir=/tmp/never"])
    assert_one_line_error(result, "error: --data_path: images are (28, 28, 1), but cifar10 expects (32, 32, 3)")


@pytest.mark.slow
def test_end_to_end_train_then_resume(npz, tmp_path):
    logdir = str(tmp_path / "run")
    args = ["--dataset=custom", f"--data_path={npz}", f"--logdir={logdir}", "--batch_size=8",
            "--steps_per_epoch=3", "--log_every_steps=1", "--num_sample_images=4", *TINY_FLAGS]
    first = run_main(args + ["--epochs=1"])
    assert first.returncode == 0, first.stderr[-3000:]
    assert os.path.exists(os.path.join(logdir, "checkpoints", "ckpt-3.index"))
    assert glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    assert os.path.exists(os.path.join(logdir, "samples", "step_00000003.png"))
    reader = tf.train.load_checkpoint(os.path.join(logdir, "checkpoints", "ckpt-3"))
    names = reader.get_variable_to_shape_map()
    step_key = [n for n in names if "step" in n and "optimizer" not in n and n.startswith("model/")]
    assert step_key and reader.get_tensor(step_key[0]) == 3
    keys_key = [n for n in names if n.startswith("model/memory/keys")]
    keys = reader.get_tensor(keys_key[0])
    assert np.any(keys != 0)  # the memory was written and saved
    losses = [n for n in names if "d_optimizer" in n]
    assert losses  # optimizer state is in the checkpoint

    second = run_main(args + ["--epochs=2"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resumed from" in second.stdout and "(step 3)" in second.stdout
    assert os.path.exists(os.path.join(logdir, "checkpoints", "ckpt-6.index"))

    third = run_main(args + ["--epochs=2"])
    assert third.returncode == 0 and "Nothing to do" in third.stdout


FLAGFILES = sorted(f for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "flags")) if f.endswith(".flags"))


def test_one_flagfile_per_experiment_and_ablation():
    expected = {f"{d}{a}.flags" for d in ("fashion_mnist", "affine_mnist", "cifar10")
                for a in ("", "_no_em", "_no_mcgn", "_no_memory")}
    expected |= {f"{d}{m}.flags" for d in ("fashion_mnist", "mnist") for m in ("", "_dcgan", "_infogan", "_micgan")}
    assert expected <= set(FLAGFILES)


@pytest.mark.parametrize("name", FLAGFILES)
def test_flagfiles_parse_into_the_intended_config(name, monkeypatch):
    from absl import flags

    from memorygan_tf import main

    monkeypatch.chdir(os.path.join(os.path.dirname(__file__), ".."))
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["memorygan", f"--flagfile=flags/{name}"])
        config = main.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
    dataset = max((d for d in ("fashion_mnist", "affine_mnist", "cifar10", "mnist") if name.startswith(d)), key=len,
                  default="custom")
    assert config.train.dataset == dataset
    assert config.train.logdir == "runs/" + name.removesuffix(".flags")
    if dataset == "custom":  # a folder the user brings (flags/*64.flags): tests/test_64px.py
        return
    model = config.model
    from memorygan_tf import models

    peer = next((m for m in ("dcgan", "infogan", "micgan") if name.endswith(f"_{m}.flags")), None)
    assert model.model == (peer or "memorygan")
    built = models.model_class(model)
    assert built is {"dcgan": models.DCGAN, "infogan": models.InfoGAN, "micgan": models.MICGAN}.get(
        peer, models.DCGAN if "_no_memory" in name else models.MemoryGAN)
    z_only = {"cifar10": 100}.get(dataset, 32)  # the paper's DCGAN's noise (the original DCGAN's on CIFAR10)
    if peer:
        assert model.z_dim == {"infogan": 62, "micgan": 256}.get(peer, z_only)
        return
    assert model.use_memory == ("_no_memory" not in name)
    assert model.use_mcgn == ("_no_mcgn" not in name)
    assert (model.update_rule == "kaiser") == ("_no_em" in name)
    if dataset != "cifar10" and "_no_memory" not in name:  # the chosen default, or the paper's
        assert model.kappa == (1.0 if ("_paper" in name or "_release" in name) else 10.0)
    if "_release" in name:
        assert (model.batch_write, model.writes_per_step, model.update_rule, model.fill_empty) == \
            ("last", 3, "release", False)
    reads_z_only = "_no_memory" in name or "_no_mcgn" in name
    if dataset == "cifar10":
        assert (model.memory_size, model.choose_k, model.key_dim) == (16384, 256, 512)
        assert model.z_dim == (z_only if reads_z_only else 16)
        assert model.output_activation == "tanh" and config.optimizer.beta_1 == 0.0
    else:
        assert (model.memory_size, model.choose_k, model.key_dim) == (4096, 128, 256)
        assert model.z_dim == (z_only if reads_z_only else 2)


def test_latest_sample_is_the_highest_step(tmp_path):
    from memorygan_tf import rundir

    run = rundir.RunDir(str(tmp_path))
    assert run.latest_sample() is None  # no samples/ yet
    for step in (2, 10, 9):
        path = run.sample(step)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()
    assert run.latest_sample() == os.path.join(str(tmp_path), "samples", "step_00000010.png")


SPECS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(os.path.dirname(__file__), "..", "flags",
                                                                  "studies", "*.json")))


@pytest.mark.parametrize("name", SPECS)
def test_study_specs_parse_into_valid_configs(name, monkeypatch):
    """Every run of a shipped study spec is a flag line memorygan_tf.main accepts (a typo
    would otherwise surface hours into a queue)."""
    from absl import flags

    from memorygan_tf import main, study

    monkeypatch.chdir(os.path.join(os.path.dirname(__file__), ".."))
    spec = study.load_spec(f"flags/studies/{name}")
    assert spec.runs and list(spec.rounds) == sorted(spec.rounds)
    for run, run_flags in spec.runs.items():
        flags.FLAGS.unparse_flags()
        try:
            flags.FLAGS(["memorygan", *spec.common_flags, *run_flags])
            config = main.config_from_flags()
        finally:
            flags.FLAGS.unparse_flags()
        assert config.train.dataset in name, (name, run)
