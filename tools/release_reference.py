"""The authors' TF1 release (github.com/whyjay/memoryGAN), run from your own checkout on the
same local Fashion-MNIST as this project, writing what this project's runs write for scoring.

    git clone https://github.com/whyjay/memoryGAN ../memoryGAN
    pip install -e ".[release]"
    python tools/release_reference.py train --release=../memoryGAN --out=runs/release_seed0 --epochs=3 --seed=0
    python tools/release_reference.py report --out=runs/release_seed0 --classifier=classifiers/fashion_mnist
    python tools/release_reference.py compare --root=runs/studies --out=docs/results/fashion_mnist_release_side.json
    python tools/release_reference.py probe --release=../memoryGAN --iterations=40 --repeats=3
    python tools/release_reference.py step --release=../memoryGAN --memory=initial,runs/release_seed0/memory/step_00000937.npz

train   trains the release's own MemoryGAN at its defaults (run.py's flags and models/config.py's
        Fashion-MNIST settings; change them with --release_flags / --release_config) under
        TensorFlow 2.21's tf.compat.v1, with compatibility shims applied in memory (nothing in
        the checkout is changed), and writes OUT/memory/step_<step>.npz (keys, values,
        histogram, ages) and OUT/samples/step_<step>.npz (`images`, uint8) after every epoch,
        and OUT/release_run.json (flags, seed, seconds per step, release commit, shims).
report  reads OUT back: memory health per epoch (distinct real keys, effective slots, real
        share) and, with --classifier, IS / FID / KID / precision / recall of every epoch's
        samples against the test set (written to OUT/scores.json, with the classifier's record).
compare the side-by-side of tools/release_queue.sh's runs under --root: the release
        (ROOT/release/seed_N), the project's release flags (--release_side_spec, run
        release_flags), its default and the DCGAN with the paper's z 32 (--fair_spec, runs
        memorygan and dcgan). A table per epoch (mean +- std over seeds and each seed of IS,
        FID, KID, precision, recall; memory health; seconds per step; the images each row
        was scored with), then at epoch 3 the comparisons with the study's statistics
        (Welch's p, a bootstrap CI over seeds, one seed's rerun spread from --repeat_spec's
        studies and ROOT/release_repeat, the verdict), only between rows scored with as
        many images. Refuses scores made by
        different classifiers; a side not run yet shows as "not run". --out writes it all
        as JSON, with every seed's values and every run's config.
probe   the release's own memory (models/memory.py) on fixed query batches, --repeats times,
        beside this project's memory under the release flags on the same queries: the real
        slots after chosen iterations. The release's two D-step writes are independent ops
        whose order TensorFlow does not fix, so its repeats can differ; this project's
        memory is deterministic. --out writes every iteration's counts as JSON.
step    one D step and one G step of both codes from identical inputs: the release's initial
        weights copied into this project's MemoryGAN (release flags' memory options, minimax
        loss, the release's information term), the same real batch (the first 64 training
        images), noise, sampled slots and memory (--memory: "initial", the release's memory
        before training, or a memory dump of a release run). Prints, per memory and per
        --bn_epsilons value, D(x), D(G), the losses, every gradient's relative difference
        and cosine, and the memory slots that differ after each step's writes; from the
        initial memory also which write the slots both D-step writes write keep, in --repeats
        runs of the release's step and here; --out writes it as JSON.
A thin wrapper over memorygan_tf.release.
"""

import json
import os
import sys

from absl import flags

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, CHECKOUT)

SUBCOMMANDS = ("train", "report", "compare", "probe", "step")
FLAGS = flags.FLAGS
flags.DEFINE_string("release", None, "train / probe: your checkout of github.com/whyjay/memoryGAN.")
flags.DEFINE_string("out", None, "train / report: the run's folder (train writes it, report reads it); "
                    "compare / probe: the JSON report to write (optional).")
flags.DEFINE_string("data_path", None, "Fashion-MNIST: the keras.datasets .npz (x_train, y_train, x_test, y_test) "
                    "or a folder of its four IDX .gz files (default: the local copy, as memorygan_tf.main finds it).")
flags.DEFINE_integer("epochs", 3, "train: epochs (the release's `epoch` flag; its own default is 1500).")
flags.DEFINE_integer("seed", 0, "train: seed of TensorFlow's graph, numpy (z, data order) and random.")
flags.DEFINE_integer("steps", 0, "train: stop after this many iterations (0: the full --epochs); a smoke test.")
flags.DEFINE_integer("num_samples", 64000, "train: generated images written after every epoch (0: none).")
flags.DEFINE_list("release_flags", [], "train: run.py flags, name=value (e.g. loss=alternative,lr_decay=true).")
flags.DEFINE_list("release_config", [], "train: models/config.py settings, name=value (e.g. mem_size=1024).")
flags.DEFINE_string("classifier", None, "report: folder with classifier.keras (tools/train_classifier.py) to "
                    "score the samples.")
flags.DEFINE_integer("splits", 10, "report: Inception Score splits.")
flags.DEFINE_integer("iterations", 40, "probe: training iterations (a D and a G step each) fed to both memories.")
flags.DEFINE_integer("repeats", 3, "probe: runs of the release's memory on the same queries; step: repeats of "
                     "the release's first D step from the initial memory.")
flags.DEFINE_list("memory", ["initial"], "step: the memories the steps start from: initial (the release's before "
                  "training) or memory dumps (.npz with keys, values, histogram, ages) of a release run.")
flags.DEFINE_list("bn_epsilons", ["default", "0.001"], "step: this project's --bn_epsilon values to compare "
                  "(default: its own; 0.001: tf.slim's).")
flags.DEFINE_string("root", "runs/studies", "compare: the studies' root (tools/release_queue.sh's ROOT).")
flags.DEFINE_string("release_side_spec", os.path.join(CHECKOUT, "flags", "studies", "fashion_mnist_release_side.json"),
                    "compare: the study of the project's release flags (its run release_flags).")
flags.DEFINE_string("fair_spec", os.path.join(CHECKOUT, "flags", "studies", "fashion_mnist_fair.json"),
                    "compare: the fair study (its runs memorygan and dcgan).")
flags.DEFINE_list("repeat_spec", [os.path.join(CHECKOUT, "flags", "studies", f"{name}.json")
                                   for name in ("fashion_mnist_fair_repeat", "fashion_mnist_release_side_repeat")],
                  "compare: the studies that train seeds of the compared runs again (comma-separated), whose "
                  "run-to-run spread a verdict must clear ('' for none; unused where they have not run).")


def _data_path():
    from memorygan_tf import data

    return data.resolve_data_path("fashion_mnist", FLAGS.data_path, data.default_search_path(os.environ))


def train(fail):
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: what follows imports TensorFlow
    from memorygan_tf import release

    if FLAGS.verbosity < 1:  # the release's TF1 code draws hundreds of deprecation warnings
        import warnings

        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        warnings.filterwarnings("ignore", message="`layer.apply` is deprecated")
    try:
        options = release.RunOptions(
            release=FLAGS.release, out=FLAGS.out, data_path=_data_path(), epochs=FLAGS.epochs, seed=FLAGS.seed,
            steps=FLAGS.steps, num_samples=FLAGS.num_samples,
            flags=release.parse_assignments(FLAGS.release_flags, "--release_flags"),
            config=release.parse_assignments(FLAGS.release_config, "--release_config"))
        release.validate_options(options)
        root = release.check_checkout(options.release)
        release.release_flags(release.release_flag_defaults(root), options.flags, options.epochs)
        release.require_extra()
        record = release.train_release(options, log=lambda line: print(line, flush=True))
    except release.ReleaseError as err:
        return fail(str(err))
    print(f"Wrote {record['steps']} steps' dumps to {FLAGS.out} ({release.RECORD_NAME}, "
          f"{release.MEMORY_DIR}/, {release.SAMPLES_DIR}/)")
    return 0


def report(fail):
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # the health reader imports TensorFlow
    from memorygan_tf import release

    try:
        record, rows = release.read_run(FLAGS.out)
    except release.ReleaseError as err:
        return fail(str(err))
    scores = None
    if FLAGS.classifier:
        try:
            scores, classifier = release.score_run(rows, FLAGS.classifier, FLAGS.data_path or record.get("data_path")
                                                   or _data_path(), FLAGS.splits)
        except release.ReleaseError as err:
            return fail(str(err))
    for row in rows:
        health = row["health"]
        epoch = f"{row['epoch']:.3g}" if row["epoch"] is not None else "?"
        line = (f"epoch {epoch} (step {row['step']}): {health['distinct_real_keys']} distinct real keys, "
                f"{health['effective_slots']:.0f} effective slots, real share {health['real_share']:.3f}")
        if row.get("seconds_per_step") is not None:
            line += f", {row['seconds_per_step']:.3f} s/step"
        if scores and row["step"] in scores:
            s = scores[row["step"]]
            line += f"; IS {s['inception_score']:.3f} FID {s['fid']:.3f} KID {s['kid']:.4f}"
        print(line)
    out = os.path.join(FLAGS.out, "scores.json")
    if scores is not None:
        try:
            with open(out, "w") as f:
                json.dump({"classifier": classifier,
                           "rows": [dict(row, scores=scores.get(row["step"])) for row in rows]}, f, indent=2)
        except OSError as err:
            return fail(f"--out: cannot write {out} ({err.strerror or err})")
        print(f"Wrote {out}")
    return 0


def compare(fail):
    from memorygan_tf import cli, release, study

    specs = {}
    paths = [("release_side_spec", FLAGS.release_side_spec), ("fair_spec", FLAGS.fair_spec)] + [
        ("repeat_spec", path) for path in FLAGS.repeat_spec]
    repeats = []
    for flag, path in paths:
        if not path and flag != "repeat_spec":
            return fail(f"--{flag}: give the study spec (a JSON file of flags/studies)")
        if not path:
            continue
        try:
            spec = study.load_spec(path)
        except (OSError, ValueError, study.StudyError) as err:
            return fail(f"--{flag}: {path}: {getattr(err, 'strerror', None) or str(err).splitlines()[0]}")
        if flag == "repeat_spec":
            repeats.append((path, spec))
        else:
            specs[flag] = spec
    if not os.path.isdir(FLAGS.root):
        return fail(f"--root: {FLAGS.root} is not a folder (tools/release_queue.sh's ROOT)")
    if FLAGS.out and (os.path.isdir(FLAGS.out) or not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.out)))):
        return fail(f"--out: {FLAGS.out} is a folder or its folder does not exist; give the JSON file to write")
    try:
        side = release.collect_side(FLAGS.root, specs["release_side_spec"], specs["fair_spec"],
                                    *(spec for _, spec in repeats))
        cli.quiet_logging(FLAGS.verbosity)  # the runs' TensorBoard logs are read with TensorFlow
        report = release.side_report(release.add_run_logs(side))
    except release.ReleaseError as err:
        return fail(str(err))
    print(release.side_text(report))
    if FLAGS.out:
        raw = {}
        for flag, path in paths[:2]:
            with open(path) as f:
                raw[flag] = json.load(f)
        if repeats:
            raw["repeat_spec"] = []
            for path, _ in repeats:
                with open(path) as f:
                    raw["repeat_spec"].append(json.load(f))
        try:
            with open(FLAGS.out + ".tmp", "w") as f:
                json.dump(dict(report, specs=raw), f, indent=1)
            os.replace(FLAGS.out + ".tmp", FLAGS.out)
        except OSError as err:
            return fail(f"--out: cannot write {FLAGS.out} ({err.strerror or err})")
        print(f"\nWrote {FLAGS.out}")
    return 0


def probe(fail):
    import subprocess

    from memorygan_tf import cli

    if FLAGS.iterations < 1 or FLAGS.repeats < 1:
        return fail("--iterations and --repeats must be at least 1")
    cli.quiet_logging(FLAGS.verbosity)
    from memorygan_tf import release

    try:
        release.check_checkout(FLAGS.release)
        release.require_extra()
    except release.ReleaseError as err:
        return fail(str(err))
    shown = sorted({0, 1, 2, 4, 9, 19, 39, FLAGS.iterations - 1} & set(range(FLAGS.iterations)))
    print("real slots after iteration " + ", ".join(str(t + 1) for t in shown))
    # Each side in a process of its own: the release needs graph mode, this project eager.
    code = ("import sys, numpy as np; sys.path.insert(0, {root!r}); from memorygan_tf import release; "
            "q = release.probe_queries({n}); print(' '.join(map(str, {call})))")
    sides = [("the release, run %d" % (i + 1), f"release.probe_release_memory({FLAGS.release!r}, q)")
             for i in range(FLAGS.repeats)] + [("this project, the release flags", "release.probe_project_memory(q)")]
    record = dict(iterations=FLAGS.iterations, repeats=FLAGS.repeats, release=release.release_commit(FLAGS.release),
                  queries="memorygan_tf.release.probe_queries(iterations), seed 0", real_slots={})
    for label, call in sides:
        done = subprocess.run([sys.executable, "-c", code.format(root=CHECKOUT, n=FLAGS.iterations, call=call)],
                              capture_output=True, text=True)
        if done.returncode:
            return fail(f"{label}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
        real = [int(x) for x in done.stdout.split()[-FLAGS.iterations:]]
        record["real_slots"][label] = real
        print(f"{label}: " + ", ".join(str(real[t]) for t in shown))
    return _write_record(record, fail)


def _write_record(record, fail):
    """--out (if given): `record` with this machine's description, as JSON."""
    if FLAGS.out:
        from memorygan_tf import hardware

        try:
            with open(FLAGS.out, "w") as f:
                json.dump(dict(record, machine=hardware.machine_info()), f, indent=1)
        except OSError as err:
            return fail(f"--out: cannot write {FLAGS.out} ({err.strerror or err})")
        print(f"Wrote {FLAGS.out}")
    return 0


def step(fail):
    import subprocess
    import tempfile

    import numpy as np

    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)
    from memorygan_tf import data, release

    try:
        release.check_checkout(FLAGS.release)
        release.require_extra()
        epsilons = [None if e == "default" else float(e) for e in FLAGS.bn_epsilons]
    except release.ReleaseError as err:
        return fail(str(err))
    except ValueError:
        return fail(f"--bn_epsilons: expected 'default' or numbers, got {','.join(FLAGS.bn_epsilons)}")
    if not FLAGS.memory or not epsilons:
        return fail("--memory and --bn_epsilons need at least one value each")
    try:
        images = data.as_nhwc_uint8(data.load_local(_data_path()), "--data_path")[:release.STEP_BATCH]
        memories = []
        for name in FLAGS.memory:
            if name == "initial":
                memories.append((name, release.initial_release_memory()))
                continue
            keys, values, histogram, ages = release.read_memory_dump(name, "--memory")
            memories.append((name, (keys, values, np.zeros_like(values) if ages is None else ages, histogram)))
    except (data.DataError, release.ReleaseError) as err:
        return fail(str(err))
    record = dict(release=release.release_commit(FLAGS.release), seed=FLAGS.seed, memories={})
    code = ("import sys, numpy as np; sys.path.insert(0, {root!r}); from memorygan_tf import release; "
            "out = release.release_step({release!r}, dict(np.load({inputs!r}))); np.savez({out!r}, **out)")
    race_code = ("import sys, json, numpy as np; sys.path.insert(0, {root!r}); from memorygan_tf import release; "
                 "print(json.dumps(release.release_first_step_race({release!r}, dict(np.load({inputs!r})), {repeats})))")
    with tempfile.TemporaryDirectory(prefix="release_step_") as scratch:
        for label, memory in memories:
            inputs = release.step_inputs(images, memory, seed=FLAGS.seed)
            paths = [os.path.join(scratch, name) for name in ("inputs.npz", "release.npz")]
            np.savez(paths[0], **inputs)
            # The release in a process of its own: it needs graph mode, this project eager.
            done = subprocess.run([sys.executable, "-c", code.format(root=CHECKOUT, release=FLAGS.release,
                                                                     inputs=paths[0], out=paths[1])],
                                  capture_output=True, text=True)
            if done.returncode:
                return fail(f"the release's step: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
            theirs = dict(np.load(paths[1]))
            record["memories"][label] = {}
            if label == "initial":  # which write the slots both D-step writes write keep, in the release
                race = subprocess.run([sys.executable, "-c", race_code.format(
                    root=CHECKOUT, release=FLAGS.release, inputs=paths[0], repeats=FLAGS.repeats)],
                    capture_output=True, text=True)
                if race.returncode:
                    return fail(f"the release's first step: {(race.stderr.strip().splitlines() or ['failed'])[-1]}")
                record["first_step_overlap"] = dict(release=json.loads(race.stdout.strip().splitlines()[-1]),
                                                    repeats=FLAGS.repeats)
            for epsilon in epsilons:
                ours, _ = release.project_step(inputs, theirs, bn_epsilon=epsilon)
                rows = release.compare_step(theirs, ours)
                name = "default" if epsilon is None else repr(epsilon)
                record["memories"][label][f"bn_epsilon={name}"] = rows
                if label == "initial":
                    record["first_step_overlap"][f"here, bn_epsilon={name}"] = release.first_step_overlap(
                        {f: ours["memory_after_d/" + f] for f in ("keys", "values", "histogram")})
                print(f"\n## memory {label}, this project's --bn_epsilon={name}")
                print(release.step_text(rows))
    if "first_step_overlap" in record:
        print("\n## The first D step from the initial memory: the 64 slots both writes write keep keys / "
              "values / histogram from (fake: the generated batch's reset, real: the real batch's EM)")
        for side, outcome in record["first_step_overlap"].items():
            if side != "repeats":
                print(f"{side}: {outcome}")
    return _write_record(record, fail)


def main(argv):
    from memorygan_tf.cli import fail

    if len(argv) != 2 or argv[1] not in SUBCOMMANDS:
        return fail(f"give one subcommand: {', '.join(SUBCOMMANDS)}")
    if argv[1] == "compare":
        return compare(fail)
    if argv[1] == "probe":
        return probe(fail)
    if argv[1] == "step":
        return step(fail)
    if not FLAGS.out:
        return fail("--out: give the run's folder")
    if argv[1] == "train":
        return train(fail)
    return report(fail)


if __name__ == "__main__":
    from memorygan_tf import cli

    cli.run_tool(main, interrupted="the dumps of the epochs finished so far are kept in --out")
