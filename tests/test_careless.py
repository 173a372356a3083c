"""Careless inputs: each ends in one line naming the flag or file, or in a
documented safe behaviour; nothing the user owns is lost.

The cases that fail before any training run in the default suite (marked `messages`);
those that need a trained run are marked slow.
"""

import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from memorygan_tf import configs, rundir
from tests.helpers import ROOT, TINY_FLAGS, TINY_MODEL, args_for, assert_one_line_error, blobs, run_main

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def tool(name, *args, timeout=600):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name), *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, cwd=ROOT)


def fake_run(folder, checkpoint=False):
    """A run directory with a valid config.json (and, if asked, an empty checkpoint index):
    enough for the checks that come before any model is built."""
    config = configs.make_config("fashion_mnist", model_overrides=TINY_MODEL,
                                 train_overrides=dict(batch_size=8, logdir=str(folder)))
    rundir.RunDir(str(folder)).write_config(config)
    if checkpoint:
        os.makedirs(os.path.join(folder, "checkpoints"), exist_ok=True)
        open(os.path.join(folder, "checkpoints", "ckpt-2.index"), "w").close()
    return str(folder)


def labelled_npz(path, x_train=None, y_train=None, x_test=None, y_test=None):
    images = blobs(40)[..., 0]
    labels = (np.arange(40) % 4).astype(np.uint8)
    np.savez(path, x_train=images[:32] if x_train is None else x_train,
             y_train=labels[:32] if y_train is None else y_train,
             x_test=images[32:] if x_test is None else x_test, y_test=labels[32:] if y_test is None else y_test)
    return str(path)


# ------------------------------------------------------------------ main: flags
@pytest.mark.messages
def test_memory_too_large_for_the_machine_is_refused_up_front(npz, tmp_path):
    assert_one_line_error(run_main(args_for(npz, tmp_path / "r", "--memory_size=1000000000")),
                          "--memory_size", "GiB")
    assert not (tmp_path / "r").exists()


@pytest.mark.messages
def test_seed_beyond_what_the_libraries_take_is_refused(npz, tmp_path):
    assert_one_line_error(run_main(args_for(npz, tmp_path / "r", "--seed=99999999999999999999")), "--seed")


@pytest.mark.messages
def test_empty_logdir_is_refused_not_replaced_by_the_default(npz, tmp_path):
    result = run_main(["--dataset=custom", f"--data_path={npz}", "--logdir=", *TINY_FLAGS], cwd=str(tmp_path))
    assert_one_line_error(result, "--logdir", "empty")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------- main: data
@pytest.mark.messages
def test_truncated_gzip_idx_file_names_the_file(tmp_path):
    images = blobs(16)[..., 0]
    raw = struct.pack(">BBBB3I", 0, 0, 8, 3, *images.shape) + images.tobytes()
    path = tmp_path / "train-images-idx3-ubyte.gz"
    packed = gzip.compress(raw)
    path.write_bytes(packed[: len(packed) // 2])
    assert_one_line_error(run_main(args_for(path, tmp_path / "r")), str(path), "truncated")


@pytest.mark.messages
def test_idx_header_with_absurd_dimensions_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 200]) + b"\x00" * 64)
    assert_one_line_error(run_main(args_for(path, tmp_path / "r")), str(path), "200 dimensions")


@pytest.mark.messages
def test_float_pixels_in_an_ambiguous_range_are_refused(tmp_path):
    path = tmp_path / "twice.npz"
    np.savez(path, x_train=blobs(32)[..., 0].astype(np.float32) / 255.0 * 2.0)  # [0, 2]
    assert_one_line_error(run_main(args_for(path, tmp_path / "r")), "float pixels span [0, 2]")


# ------------------------------------------------------------ main: run directory
@pytest.mark.messages
def test_lock_that_is_a_directory_is_named(npz, tmp_path):
    (tmp_path / "r" / ".lock").mkdir(parents=True)
    assert_one_line_error(run_main(args_for(npz, tmp_path / "r")), "--logdir", ".lock")


@pytest.mark.messages
@pytest.mark.parametrize("content", ["[]", '{"model": {"kappa": 10.0,', '{"model": []}'],
                         ids=["list", "truncated", "section-not-object"])
def test_unreadable_config_json_names_the_file(npz, tmp_path, content):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    with open(os.path.join(logdir, "config.json"), "w") as f:
        f.write(content)
    assert_one_line_error(run_main(args_for(npz, logdir)), "--logdir", "config.json", "unreadable")


def test_writability_is_probed_in_the_run_directory_itself(tmp_path, monkeypatch):
    """A run directory that refuses new files while its checkpoints/ takes them fails
    before training (config.json and the samples are written there). Simulated: the
    tests may run as root, whom chmod does not stop."""
    import builtins

    logdir = str(tmp_path / "r")
    real_open = builtins.open

    def refusing(path, *args, **kwargs):
        if os.path.dirname(os.fspath(path)) == logdir and "write_probe" in os.fspath(path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing)
    with pytest.raises(configs.ConfigError, match=f"cannot write to {logdir}: Permission denied"):
        rundir.RunDir(logdir).check_writable()
    assert os.path.isdir(os.path.join(logdir, "checkpoints"))  # that one took its probe


# ------------------------------------------------------------------------ export
@pytest.mark.messages
def test_export_into_an_unwritable_place_is_one_line(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    blocker = tmp_path / "afile"
    blocker.write_text("a file where a folder would have to be")
    result = tool("export_generator.py", f"--logdir={logdir}", f"--export_dir={blocker / 'export'}")
    assert_one_line_error(result, "--export_dir", "cannot write")


@pytest.mark.messages
def test_export_with_a_truncated_config_names_the_file(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    with open(os.path.join(logdir, "config.json"), "r+") as f:
        f.truncate(200)
    result = tool("export_generator.py", f"--logdir={logdir}", f"--export_dir={tmp_path / 'e'}")
    assert_one_line_error(result, "config.json", "unreadable")


@pytest.mark.messages
def test_export_overwrite_never_deletes_the_users_files(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    target = tmp_path / "mine"
    (target / "sub").mkdir(parents=True)
    (target / "thesis.txt").write_text("two years of work")
    (target / "sub" / "data.csv").write_text("1,2,3")
    (target / "saved_model.pb").write_text("looks like an export, but is not only one")
    result = tool("export_generator.py", f"--logdir={logdir}", f"--export_dir={target}", "--overwrite")
    assert_one_line_error(result, "--export_dir", "not an export", "thesis.txt")
    assert (target / "thesis.txt").read_text() == "two years of work" and (target / "sub" / "data.csv").exists()


# --------------------------------------------------------------------- visualize
@pytest.mark.messages
@pytest.mark.parametrize("command,extra,needles", [
    ("samples", ["--num=0"], ["--num", "at least 1"]),
    ("samples", ["--num=-3"], ["--num", "at least 1"]),
    ("likelihood", ["--subset=0"], ["--subset", "at least 1"]),
], ids=["num-0", "num-negative", "subset-0"])
def test_visualize_counts_below_one_name_the_flag(tmp_path, command, extra, needles):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    result = tool("visualize.py", command, f"--logdir={logdir}", f"--out={tmp_path / 'x.png'}", *extra)
    assert_one_line_error(result, *needles)


@pytest.mark.messages
def test_visualize_out_that_is_a_folder_is_refused(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    result = tool("visualize.py", "samples", f"--logdir={logdir}", f"--out={tmp_path}")
    assert_one_line_error(result, "--out", "is a folder")


@pytest.mark.messages
def test_visualize_out_without_png_suffix_is_refused_not_renamed(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    result = tool("visualize.py", "prior", f"--logdir={logdir}", f"--out={tmp_path / 'figure'}")
    assert_one_line_error(result, "--out", "must end in .png")
    assert not (tmp_path / "figure.png").exists()


# ---------------------------------------------------------------------- evaluate
@pytest.mark.messages
def test_evaluate_classifier_folder_without_its_record(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "classifier.keras").write_bytes(b"x")
    result = tool("evaluate.py", f"--logdir={logdir}", f"--classifier={tmp_path / 'clf'}")
    assert_one_line_error(result, "--classifier", "classifier.json")


@pytest.mark.messages
def test_evaluate_corrupt_classifier_is_named_before_scoring(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "classifier.keras").write_bytes(b"PK\x03\x04 not a keras file")
    (tmp_path / "clf" / "classifier.json").write_text("{}")
    result = tool("evaluate.py", f"--logdir={logdir}", f"--classifier={tmp_path / 'clf'}")
    assert_one_line_error(result, "--classifier", "classifier.keras", "does not load")


@pytest.mark.messages
def test_evaluate_out_that_is_a_folder_is_refused_before_scoring(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "classifier.keras").write_bytes(b"x")
    (tmp_path / "clf" / "classifier.json").write_text("{}")
    result = tool("evaluate.py", f"--logdir={logdir}", f"--classifier={tmp_path / 'clf'}", f"--out={tmp_path}")
    assert_one_line_error(result, "--out", "is a folder")


@pytest.mark.messages
@pytest.mark.parametrize("content", ["[]", '{"model": {"kap'], ids=["list", "truncated"])
def test_evaluate_unreadable_config_names_the_file(tmp_path, content):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    with open(os.path.join(logdir, "config.json"), "w") as f:
        f.write(content)
    assert_one_line_error(tool("evaluate.py", f"--logdir={logdir}"), "config.json", "unreadable")


@pytest.mark.messages
def test_evaluate_prior_temperature_out_of_range_is_refused_before_scoring(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    assert_one_line_error(tool("evaluate.py", f"--logdir={logdir}", "--prior_temperature=0"),
                          "prior_temperature", "positive")
    assert not (tmp_path / "r" / "eval").exists()


@pytest.mark.messages
def test_evaluate_prior_temperature_of_a_dcgan_is_refused(tmp_path):
    logdir = str(tmp_path / "r")
    config = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, use_memory=False),
                                 train_overrides=dict(batch_size=8, logdir=logdir))
    rundir.RunDir(logdir).write_config(config)
    assert_one_line_error(tool("evaluate.py", f"--logdir={logdir}", "--prior_temperature=2"),
                          "prior_temperature", "only a MemoryGAN")


# --------------------------------------------------------------------- run_study
@pytest.mark.messages
@pytest.mark.parametrize("spec,needle", [
    (dict(name="s", rounds=3, runs={"a": []}), '"rounds" must be a list'),
    (dict(name="s", rounds=[1], runs=["a", "b"]), '"runs" must be an object'),
    ([{"name": "s"}], "expected a JSON object"),
    (dict(name="s", rounds=[1], runs={}), '"runs" is empty'),
    (dict(name="s", rounds=[3, 1], runs={"a": []}), '"rounds" must rise'),
    (dict(name="s", rounds=[1], runs={"a": "--kappa=3"}), 'run "a": flags must be a list'),
], ids=["rounds-int", "runs-list", "spec-list", "no-runs", "rounds-fall", "flags-string"])
def test_bad_study_specs_are_one_line(tmp_path, spec, needle):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = tool("run_study.py", f"--spec={path}", f"--root={tmp_path / 'root'}", "--noevaluate")
    assert_one_line_error(result, "--spec", needle)
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
@pytest.mark.messages
def test_study_run_whose_flags_main_refuses_names_the_run_and_mains_line(npz, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(dict(name="s", rounds=[1], steps_per_epoch=2, num_samples=20,
                                    common_flags=["--dataset=custom", f"--data_path={npz}", "--batch_size=8", *TINY_FLAGS],
                                    runs={"bad_kappa": ["--kappa=-1"]})))
    result = tool("run_study.py", f"--spec={path}", f"--root={tmp_path / 'root'}", "--noevaluate")
    assert_one_line_error(result, "training of", "bad_kappa", "error: --kappa")


# -------------------------------------------------------------------------- tune
@pytest.mark.messages
def test_tune_too_few_eval_samples_is_refused_before_any_trial(tmp_path):
    result = tool("tune.py", f"--directory={tmp_path / 't'}", "--eval_samples=5", "--quick")
    assert_one_line_error(result, "--eval_samples", "at least 10")
    assert not list((tmp_path / "t").glob("*/trial_*"))


# -------------------------------------------------------------- train_classifier
@pytest.mark.messages
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_train_classifier_damaged_npz_names_the_file(tmp_path, damage):
    path = labelled_npz(tmp_path / "labelled.npz")
    raw = bytearray(open(path, "rb").read())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        for i in range(len(raw) // 3, len(raw) // 3 + 64):
            raw[i] ^= 0xFF
    open(path, "wb").write(bytes(raw))
    result = tool("train_classifier.py", f"--data_path={path}", f"--out={tmp_path / 'clf'}", "--epochs=1")
    assert_one_line_error(result, path)


@pytest.mark.messages
def test_train_classifier_out_that_is_a_file_is_refused(tmp_path):
    path = labelled_npz(tmp_path / "labelled.npz")
    (tmp_path / "afile").write_text("x")
    result = tool("train_classifier.py", f"--data_path={path}", f"--out={tmp_path / 'afile'}", "--epochs=1")
    assert_one_line_error(result, "--out", "is a file")
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.messages
def test_train_classifier_labels_shorter_than_images(tmp_path):
    path = labelled_npz(tmp_path / "labelled.npz", y_train=np.zeros(20, np.uint8))
    result = tool("train_classifier.py", f"--data_path={path}", f"--out={tmp_path / 'clf'}", "--epochs=1")
    assert_one_line_error(result, "y_train", "one label per x_train image")


@pytest.mark.messages
def test_train_classifier_labels_that_are_not_0_to_c_minus_1(tmp_path):
    train_labels = (50 + np.arange(32) % 118).astype(np.int64)  # 50..167 (only 32 of them present)
    path = labelled_npz(tmp_path / "labelled.npz", y_train=train_labels)
    result = tool("train_classifier.py", f"--data_path={path}", f"--out={tmp_path / 'clf'}", "--epochs=1")
    assert_one_line_error(result, "y_train", "but not 0..49")
    assert not (tmp_path / "clf" / "classifier.keras").exists()


# ------------------------------------------------- trained runs (slow: they train)
# `trained` and `run`: tests/conftest.py


def indexes(logdir):
    return sorted(f for f in os.listdir(os.path.join(logdir, "checkpoints")) if f.endswith(".index"))


@pytest.mark.slow
@pytest.mark.messages
def test_data_files_without_any_index_are_never_trained_over(npz, run):
    folder = os.path.join(run, "checkpoints")
    for name in indexes(run):
        os.remove(os.path.join(folder, name))
    before = {f: open(os.path.join(folder, f), "rb").read() for f in os.listdir(folder) if ".data-" in f}
    assert before
    assert_one_line_error(run_main(args_for(npz, run, "--epochs=3")), "--logdir", "no ckpt-*.index",
                          "refusing to start again from step 0")
    assert {f: open(os.path.join(folder, f), "rb").read() for f in os.listdir(folder) if ".data-" in f} == before


@pytest.mark.slow
def test_retention_counts_checkpoints_of_earlier_resumes(npz, run):
    for epochs in (3, 4, 5, 6):
        result = run_main(args_for(npz, run, f"--epochs={epochs}", "--keep_checkpoints=3"))
        assert result.returncode == 0, result.stderr[-2000:]
    assert indexes(run) == ["ckpt-10.index", "ckpt-12.index", "ckpt-8.index"]
    datas = [f for f in os.listdir(os.path.join(run, "checkpoints")) if ".data-" in f]
    assert len(datas) == 3


@pytest.mark.slow
def test_export_overwrite_replaces_an_earlier_export(run, tmp_path):
    target = tmp_path / "export"
    first = tool("export_generator.py", f"--logdir={run}", f"--export_dir={target}")
    assert first.returncode == 0, first.stderr[-2000:]
    again = tool("export_generator.py", f"--logdir={run}", f"--export_dir={target}", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (target / "saved_model.pb").exists() and not list(tmp_path.glob("export.partial-*"))


@pytest.mark.slow
def test_output_piped_into_head_saves_and_exits_quietly(npz, tmp_path):
    logdir = str(tmp_path / "piped")
    process = subprocess.Popen([sys.executable, "-m", "memorygan_tf.main",
                                *args_for(npz, logdir, "--epochs=100000", "--log_every_steps=1")],
                               cwd=ROOT, env=dict(ENV, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    for _ in range(3):  # what `head -3` reads, then it goes away
        process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=600)
    assert process.returncode == 141, err[-2000:]
    assert "Traceback" not in err and "saved a checkpoint at step" in err, err
    assert indexes(logdir)  # the steps trained are kept


# ======================================================= second round: twenty more cases
def fake_classifier(folder, dataset="fashion_mnist", image_shape=(28, 28, 1)):
    """An untrained classifier folder (classifier.keras + classifier.json): enough for every
    check that comes before scoring."""
    from memorygan_tf import evaluation

    os.makedirs(folder, exist_ok=True)
    evaluation.build_classifier(image_shape, 4, width=2, blocks_per_stage=1).save(
        os.path.join(folder, "classifier.keras"))
    with open(os.path.join(folder, "classifier.json"), "w") as f:
        json.dump(dict(dataset=dataset, test_accuracy=0.5), f)
    return str(folder)


@pytest.mark.messages
@pytest.mark.parametrize("target", ["config.json", "checkpoints/ckpt-2.index", "checkpoints/new.json"])
def test_evaluate_out_onto_a_file_the_run_owns_is_refused(tmp_path, target):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    before = open(os.path.join(logdir, "config.json")).read()
    result = tool("evaluate.py", f"--logdir={logdir}", f"--out={os.path.join(logdir, target)}")
    assert_one_line_error(result, "--out", "the run owns", target.split("/")[0])
    assert open(os.path.join(logdir, "config.json")).read() == before
    assert os.path.getsize(os.path.join(logdir, "checkpoints", "ckpt-2.index")) == 0


def test_output_rule_allows_scores_under_eval_and_new_files_elsewhere(tmp_path):
    from memorygan_tf import cli

    logdir = fake_run(tmp_path / "r", checkpoint=True)
    os.makedirs(os.path.join(logdir, "eval"))
    (tmp_path / "r" / "eval" / "step_00000002.json").write_text("{}")
    assert cli.check_output(os.path.join(logdir, "eval", "step_00000002.json"), "out", cli.evaluation_file) is None
    assert cli.check_output(os.path.join(logdir, "eval", "curve", "new.json"), "out", cli.evaluation_file) is None
    assert cli.check_output(str(tmp_path / "elsewhere.json"), "out") is None
    (tmp_path / "r" / "eval" / "events.out.tfevents.1").write_text("tensorboard")
    assert "owns" in cli.check_output(os.path.join(logdir, "eval", "events.out.tfevents.1"), "out",
                                      cli.evaluation_file)
    (tmp_path / "r" / "train.log").write_text("log")
    assert "owns" in cli.check_output(os.path.join(logdir, "train.log"), "out", cli.evaluation_file)
    assert "owns" in cli.check_output(os.path.join(logdir, "config.json"), "export_dir", cli.outside_reserved)


@pytest.mark.messages
def test_train_classifier_refuses_to_replace_a_finished_classifier(tmp_path):
    path = labelled_npz(tmp_path / "labelled.npz")
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "classifier.keras").write_bytes(b"the fashion classifier")
    (tmp_path / "clf" / "classifier.json").write_text('{"dataset": "fashion_mnist", "test_accuracy": 0.93}')
    result = tool("train_classifier.py", "--dataset=mnist", f"--data_path={path}", f"--out={tmp_path / 'clf'}",
                  "--epochs=1")
    assert_one_line_error(result, "--out", "finished classifier", "fashion_mnist", "--overwrite")
    assert (tmp_path / "clf" / "classifier.keras").read_bytes() == b"the fashion classifier"


def half_trained(folder, **started):
    os.makedirs(os.path.join(folder, "backup"))
    settings = dict(dataset="fashion_mnist", width=16, batch_size=128, seed=0, epochs=12, limit=0)
    settings.update(started)
    with open(os.path.join(folder, "training.json"), "w") as f:
        json.dump(settings, f)
    return str(folder)


@pytest.mark.messages
@pytest.mark.parametrize("flag,needle", [("--width=8", "--width=8 (started with 16)"),
                                         ("--dataset=mnist", "--dataset=mnist (started with fashion_mnist)")],
                         ids=["width", "dataset"])
def test_train_classifier_resume_with_other_settings_is_refused(tmp_path, flag, needle):
    path = labelled_npz(tmp_path / "labelled.npz")
    folder = half_trained(tmp_path / "clf")
    result = tool("train_classifier.py", flag, f"--data_path={path}", f"--out={folder}")
    assert_one_line_error(result, "--out", "half-trained", needle)
    assert os.listdir(os.path.join(folder, "backup")) == []


@pytest.mark.messages
def test_micgan_modes_beyond_memory_are_refused_up_front(npz, tmp_path):
    from memorygan_tf.models.micgan import crp

    with pytest.raises(configs.ConfigError, match="--micgan_modes: 3000 modes need at least"):
        crp.check_fits(3000, available=16 * 2**30)
    crp.check_fits(20, available=16 * 2**30)  # the paper's sizes pass
    result = run_main(args_for(npz, tmp_path / "r", "--model=micgan", "--micgan_modes=100000"))
    assert_one_line_error(result, "--micgan_modes", "GiB")
    assert not os.path.exists(os.path.join(tmp_path, "r", "checkpoints", "checkpoint"))


@pytest.mark.messages
def test_evaluate_test_set_of_another_image_size_is_one_line(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    classifier = fake_classifier(tmp_path / "clf")
    wide = blobs(40, size=32)[..., 0]
    path = labelled_npz(tmp_path / "wide.npz", x_train=wide[:32], x_test=wide[32:])
    result = tool("evaluate.py", f"--logdir={logdir}", f"--classifier={classifier}", f"--data_path={path}")
    assert_one_line_error(result, "--data_path", "(32, 32, 1)", "(28, 28, 1)")


def test_full_disk_while_checkpointing_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
    """The write made to fail as a full disk fails (no small filesystem can be mounted here)."""
    import tensorflow as tf

    from memorygan_tf import callbacks

    step = tf.Variable(1, dtype=tf.int64)
    weights = tf.Variable([1.0, 2.0])
    checkpoint = tf.train.Checkpoint(step=step, weights=weights)
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=3)
    manager.save(checkpoint_number=1)

    class Model:  # what Checkpointer reads of the model
        pass

    model = Model()
    model.step = step
    saver = callbacks.Checkpointer(manager, callbacks.NonFiniteGuard())
    saver.set_model(model)
    step.assign(2)
    weights.assign([9.0, 9.0])
    (tmp_path / "ckpt-2_temp").mkdir()  # what a save that ran out of space leaves
    real_save = manager.save

    def full(checkpoint_number=None):
        raise tf.errors.ResourceExhaustedError(None, None, "ckpt-2_temp/part-00000: No space left on device")

    manager.save = full
    with pytest.raises(configs.ConfigError) as caught:
        saver.save()
    message = str(caught.value)
    assert message.startswith("--logdir: cannot write the checkpoint of step 2") and "No space left" in message
    assert "ckpt-1" in message and "\n" not in message
    assert not (tmp_path / "ckpt-2_temp").exists()
    manager.save = real_save
    restored = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), weights=tf.Variable([0.0, 0.0]))
    restored.restore(os.path.join(str(tmp_path), "ckpt-1")).assert_existing_objects_matched()
    assert restored.weights.numpy().tolist() == [1.0, 2.0]


def wait_for_tensorflow(process, timeout=300):
    """Waits until `process` has loaded TensorFlow (its main is running; tools import it
    first thing), so a Ctrl-C lands inside the tool, as a user's would."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f"/proc/{process.pid}/maps") as f:
                if "libtensorflow" in f.read():
                    return
        except OSError:
            return
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.messages
@pytest.mark.parametrize("name,args", [
    ("evaluate.py", ["--logdir={run}"]),
    ("train_classifier.py", ["--data_path={npz}", "--out={tmp}/clf", "--epochs=50", "--batch_size=16"]),
    ("run_study.py", ["--spec={spec}", "--root={tmp}/root", "--noevaluate"]),
    ("export_generator.py", ["--logdir={run}", "--export_dir={tmp}/e"]),
], ids=["evaluate", "train_classifier", "run_study", "export"])
def test_ctrl_c_in_a_tool_is_one_line(tmp_path, name, args):
    import signal

    run = fake_run(tmp_path / "r", checkpoint=True)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(dict(name="s", rounds=[1], runs={"a": []})))
    images, labels = blobs(80)[..., 0], (np.arange(80) % 4).astype(np.uint8)
    npz_path = labelled_npz(tmp_path / "labelled.npz", images[:56], labels[:56], images[56:], labels[56:])
    args = [a.format(run=run, npz=npz_path, tmp=tmp_path, spec=spec) for a in args]
    # SIGINT back to its default in the child: a shell that starts jobs in the background (as CI
    # runners may) leaves it ignored, and Python then installs no KeyboardInterrupt handler.
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", name), *args], cwd=ROOT, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_tensorflow(process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err[-2000:]
    err = err.strip()
    assert "Traceback" not in err and "\n" not in err and err.startswith("error: interrupted"), err
    assert not (tmp_path / "e").exists() and not (tmp_path / "clf" / "classifier.json").exists()


@pytest.mark.messages
def test_resume_with_other_micgan_modes_names_the_flag_even_with_override():
    saved = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, model="micgan", micgan_modes=5))
    requested = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, model="micgan",
                                                                          micgan_modes=7))
    for override in (False, True):
        with pytest.raises(configs.ConfigError, match=r"--micgan_modes=7 \(saved: 5\).*shape") as caught:
            rundir.resume_config(saved, requested, {("model", "micgan_modes")}, override=override)
        assert "\n" not in str(caught.value)


def test_interpolate_draws_a_micgan_run():
    from memorygan_tf import models
    from memorygan_tf import visualize as vis
    from tests.test_models import TINY_MICGAN

    config = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, model="micgan", **TINY_MICGAN))
    model = models.build(config.model)
    model.mode_weights.assign(np.array([0.0, 0.7] + [0.3 / (model.modes - 2)] * (model.modes - 2), np.float32))
    grid = vis.interpolate_z(model, seed=0)
    assert grid.ndim == 3 and grid.shape[0] == grid.shape[1] and np.all(np.isfinite(grid))


@pytest.mark.messages
def test_evaluate_with_a_classifier_of_another_data_set_is_refused(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "classifier.keras").write_bytes(b"x")
    (tmp_path / "clf" / "classifier.json").write_text('{"dataset": "mnist"}')
    result = tool("evaluate.py", f"--logdir={logdir}", f"--classifier={tmp_path / 'clf'}")
    assert_one_line_error(result, "--classifier", "trained on mnist", "fashion_mnist", "--allow_mismatch")


@pytest.mark.messages
def test_evaluate_test_set_of_another_data_set_is_refused(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    classifier = fake_classifier(tmp_path / "clf")
    path = labelled_npz(tmp_path / "mnist.npz")
    result = tool("evaluate.py", f"--logdir={logdir}", f"--classifier={classifier}", f"--data_path={path}")
    assert_one_line_error(result, "--data_path", "holds mnist", "fashion_mnist", "--allow_mismatch")


def test_test_sets_of_other_data_sets_differ_in_their_pixels():
    from memorygan_tf import cli

    dark = blobs(64)  # mostly black, as MNIST
    bright = np.clip(blobs(64, seed=1).astype(np.int64) + 90, 0, 255).astype(np.uint8)  # as a brighter data set
    assert cli.pixels_differ(dark, bright)
    assert not cli.pixels_differ(dark[:32], blobs(64, seed=2)[32:])


@pytest.mark.messages
def test_evaluate_num_samples_beyond_memory_is_refused_up_front(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    classifier = fake_classifier(tmp_path / "clf")
    path = labelled_npz(tmp_path / "labelled.npz")
    result = tool("evaluate.py", f"--logdir={logdir}", f"--classifier={classifier}", f"--data_path={path}",
                  "--num_samples=10000000000", "--allow_mismatch")  # blobs do not look like Fashion-MNIST
    assert_one_line_error(result, "--num_samples", "GiB", "at most")
    assert not os.path.exists(os.path.join(logdir, "eval"))


@pytest.mark.messages
@pytest.mark.parametrize("content", ["{}", '{"history": []}', '{"seed": 3, "epochs": 2}'],
                         ids=["empty", "history-only", "flat"])
def test_config_json_without_its_sections_names_the_file(tmp_path, content):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    with open(os.path.join(logdir, "config.json"), "w") as f:
        f.write(content)
    assert_one_line_error(tool("evaluate.py", f"--logdir={logdir}"), "config.json", "no 'model'")


def test_a_killed_exports_leftovers_are_removed_and_the_earlier_export_stays_until_replaced(tmp_path):
    from memorygan_tf import cli

    target = tmp_path / "export"
    target.mkdir()
    (target / "saved_model.pb").write_text("old")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"export.partial-{dead.pid}"
    (stale / "variables").mkdir(parents=True)
    alive = tmp_path / f"export.partial-{os.getppid()}"  # a running export's folder is left alone
    alive.mkdir()
    cli.remove_stale_siblings(str(target))
    assert not stale.exists() and alive.exists() and (target / "saved_model.pb").read_text() == "old"

    new = tmp_path / "export.partial-new"
    new.mkdir()
    (new / "saved_model.pb").write_text("new")
    seen = []
    real_replace = os.replace

    def watching(src, dst):  # at every rename one complete export exists
        seen.append(sorted(p.name for p in tmp_path.iterdir() if (p / "saved_model.pb").exists()))
        real_replace(src, dst)

    os.replace = watching
    try:
        cli.replace_folder(str(new), str(target))
    finally:
        os.replace = real_replace
    assert all(seen) and (target / "saved_model.pb").read_text() == "new"
    assert not list(tmp_path.glob("export.old-*"))


@pytest.mark.messages
def test_export_dir_that_is_a_symlink_is_refused_up_front(tmp_path):
    logdir = fake_run(tmp_path / "r", checkpoint=True)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = tool("export_generator.py", f"--logdir={logdir}", f"--export_dir={tmp_path / 'link'}", "--overwrite")
    assert_one_line_error(result, "--export_dir", "symbolic link")
    assert not list(tmp_path.glob("link.partial-*"))


def test_reader_retries_when_its_checkpoint_is_rotated_away_mid_read(tmp_path):
    import tensorflow as tf

    weights = tf.Variable([1.0])
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(weights=weights), str(tmp_path), max_to_keep=1)
    manager.save(checkpoint_number=1)
    target = tf.train.Checkpoint(weights=tf.Variable([0.0]))
    calls = []

    class Rotating:  # a training saves ckpt-2 and deletes ckpt-1 while ckpt-1 is read
        def restore(self, prefix):
            calls.append(os.path.basename(prefix))
            if len(calls) == 1:
                weights.assign([2.0])
                manager.save(checkpoint_number=2)
                raise tf.errors.NotFoundError(None, None, f"{prefix}.index: not found")
            return target.restore(prefix)

    messages = []
    found = rundir.restore_newest(Rotating(), str(tmp_path), log=messages.append, partial=True)
    assert calls == ["ckpt-1", "ckpt-2"] and found.endswith("ckpt-2") and target.weights.numpy()[0] == 2.0
    assert any("rotated away" in m for m in messages)


@pytest.mark.messages
@pytest.mark.parametrize("where,flag", [("run", "--logdir=/tmp/x"), ("run", "--seed=3"), ("run", "--epochs=9"),
                                        ("common", "--steps_per_epoch=5")],
                         ids=["logdir", "seed", "epochs", "steps-common"])
def test_study_spec_setting_the_studys_own_flags_is_refused(tmp_path, where, flag):
    from memorygan_tf import study

    runs = {"a": [flag] if where == "run" else []}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(dict(name="s", rounds=[1], runs=runs, common_flags=[flag] if where == "common" else [])))
    with pytest.raises(study.StudyError, match=("run \"a\"" if where == "run" else "\"common_flags\"")
                       + " sets " + flag.split("=")[0]):
        study.load_spec(str(path))


def test_tuned_flagfile_names_its_model(tmp_path):
    from memorygan_tf import tuning

    space = tuning.search_space(["learning_rate"], "dcgan")
    lines = tuning.write_flagfile(str(tmp_path / "best.flags"), "fashion_mnist", {"learning_rate": 1e-4}, space,
                                  model="dcgan")
    assert "--model=dcgan" in lines and lines[0] == "# Tuned model: dcgan"
    assert (tmp_path / "best.flags").read_text().splitlines() == lines


def test_generate_from_mode_refuses_a_pruned_mode(tmp_path):
    import tensorflow as tf

    from memorygan_tf import export, trainer
    from tests.test_models import TINY_MICGAN

    config = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, model="micgan", **TINY_MICGAN),
                                 train_overrides=dict(batch_size=8))
    model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=1)
    k = model.modes
    model.mode_weights.assign(np.array([0.5, 0.0] + [0.5 / (k - 2)] * (k - 2), np.float32))
    model.mode_active.assign(np.array([1.0, 0.0] + [1.0] * (k - 2), np.float32))
    export.export_generator(model, str(tmp_path / "e"))
    generate = tf.saved_model.load(str(tmp_path / "e")).signatures["generate_from_mode"]
    z = tf.zeros((2, config.model.z_dim))
    with pytest.raises(tf.errors.InvalidArgumentError, match="pruned by the CRP"):
        generate(z=z, mode=tf.constant([0, 1], tf.int32))
    assert generate(z=z, mode=tf.constant([0, k - 1], tf.int32))["images"].shape[0] == 2


@pytest.mark.slow
@pytest.mark.messages
def test_evaluate_elsewhere_leaves_the_runs_tensorboard_and_logs_few_progress_lines(run, tmp_path):
    classifier = fake_classifier(tmp_path / "clf")
    path = labelled_npz(tmp_path / "labelled.npz")
    out = tmp_path / "scores.json"
    result = tool("evaluate.py", f"--logdir={run}", f"--classifier={classifier}", f"--data_path={path}",
                  "--num_samples=3000", f"--out={out}", "--allow_mismatch")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(out.read_text())["num_samples"] == 3000
    assert not os.path.exists(os.path.join(run, "eval"))  # scores elsewhere: the run's TensorBoard untouched
    progress = [line for line in result.stdout.splitlines() if "images generated and classified" in line]
    assert "\r" not in result.stdout and 1 <= len(progress) <= 12 and "ETA" in progress[-1], result.stdout


@pytest.mark.slow
def test_train_classifier_overwrite_swaps_in_the_new_classifier_and_leaves_nothing_beside(tmp_path):
    images, labels = blobs(80)[..., 0], (np.arange(80) % 4).astype(np.uint8)
    path = labelled_npz(tmp_path / "labelled.npz", images[:56], labels[:56], images[56:], labels[56:])
    out = tmp_path / "clf"
    first = tool("train_classifier.py", f"--data_path={path}", f"--out={out}", "--epochs=1", "--batch_size=16",
                 "--width=2")
    assert first.returncode == 0, first.stderr[-2000:]
    again = tool("train_classifier.py", f"--data_path={path}", f"--out={out}", "--epochs=2", "--batch_size=16",
                 "--width=2", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / "classifier.json").read_text())["epochs"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf", "labelled.npz"]
    assert "\r" not in again.stdout  # a log gets one line per epoch, not a progress bar's redraws


@pytest.mark.messages
def test_train_classifier_test_set_too_small_for_the_reference_scores(tmp_path):
    path = labelled_npz(tmp_path / "labelled.npz")  # 8 test images
    result = tool("train_classifier.py", f"--data_path={path}", f"--out={tmp_path / 'clf'}", "--epochs=1",
                  "--batch_size=16")
    assert_one_line_error(result, "--data_path", "8 test images", "at least 20")
    assert not (tmp_path / "clf" / "backup").exists()
