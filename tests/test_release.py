"""The release runner (memorygan_tf.release, tools/release_reference.py) without the release:
its shims on small stand-in modules written with the release's TF1 / Python 2 idioms, the
reading of a release run's dumps against hand-computed memory health, and the tool's
one-line errors."""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from memorygan_tf import data, release
from tests.helpers import ROOT, assert_one_line_error

# ---------------------------------------------------------------- stand-in release
# Written like the release's files (the lines the shims target keep the release's form),
# small enough to run here; none of it is the release's code.
STAND_IN = {
    "run.py": '''
        import tensorflow as tf
        flags = tf.app.flags
        flags.DEFINE_integer("epoch", 1500, "Max epoch to train")
        flags.DEFINE_string("exp", 0, "Experiment number")
        flags.DEFINE_string("dataset", "fashion", "[fashion, affmnist, cifar10]")
        flags.DEFINE_string("loss", "jsd", "[jsd, alternative]")
        flags.DEFINE_boolean("lr_decay", False, "")
        flags.DEFINE_string("model", 'MemoryGAN', '')
        ''',
    "ops.py": '''
        import tensorflow as tf
        from utils import *

        slim = tf.contrib.slim
        ln = tf.contrib.layers.layer_norm

        @tf.contrib.framework.add_arg_scope
        def fc(x, scale=1):
            return x * scale

        def squares(n):
            out = []
            for i in xrange(n):
                out.append(i * i)
            return out

        def shout(words):
            print "said:", words
        ''',
    "utils.py": '''
        import numpy as np
        import tensorflow as tf
        ''',
    "fashion.py": '''
        from __future__ import print_function
        import numpy
        from six.moves import xrange
        from tensorflow.contrib.learn.python.learn.datasets import base

        SOURCE_URL = 'http://example.invalid/'

        def read_data_sets(train_dir):
            local_file = base.maybe_download('train-images-idx3-ubyte.gz', train_dir, SOURCE_URL)
            return base.Datasets(train=local_file, validation=None, test=None)
        ''',
    "models/__init__.py": "",
    "models/config.py": '''
        class Config(object):
            def __init__(self, FLAGS):
                self.exp_num = str(FLAGS.exp)
                self.mem_size = 16

            def print_config(self):
                for key in sorted(self.__dict__.keys()):
                    print key, self.__dict__[key]
        ''',
    "models/memory.py": '''
        import numpy as np
        import tensorflow as tf

        class BaseMemory(object):
            def __init__(self, memory_size):
                self.memory_size = memory_size
                mem_val_init = np.ones(self.memory_size, dtype=np.float32)
                mem_val_init[self.memory_size/2:] = 0.
                self.mem_val_init = mem_val_init

            def sample_histogram(self, probs, n):
                distr = tf.contrib.distributions.Categorical(probs=probs)
                idxs = distr.sample(n)
                return idxs
        ''',
    "models/generator.py": '''
        import tensorflow as tf
        from ops import *

        def start_shape(w, f_dim):
            return [-1, w/4, w/4, f_dim*2], f_dim*2*w/4*w/4
        ''',
    "models/discriminator.py": "import tensorflow as tf\n",
    "models/memory_gan.py": "import tensorflow as tf\nslim = tf.contrib.slim\n",
    "models/train.py": '''
        import numpy as np

        def get_z(model):
            return np.random.uniform(-1., 1., size=(model.batch_size, model.z_dim))
        ''',
}


def write_stand_in(folder, files=STAND_IN):
    for relpath, text in files.items():
        path = os.path.join(folder, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
    return str(folder)


@pytest.fixture
def stand_in(tmp_path):
    return write_stand_in(tmp_path / "memoryGAN")


# ------------------------------------------------------------------- source shims
def test_patch_source_rewrites_the_targeted_tf1_idioms():
    text, applied = release.patch_source(textwrap.dedent(STAND_IN["models/memory.py"]), "models/memory.py")
    assert "import tensorflow.compat.v1 as tf" in text
    assert "mem_val_init[self.memory_size//2:] = 0." in text
    assert "tf.contrib" not in text and "_release_shims.Categorical(probs=probs)" in text
    assert "integer division memory_size/2" in applied and "contrib Categorical -> tf.random.categorical" in applied
    compile(text, "models/memory.py", "exec")

    text, applied = release.patch_source(textwrap.dedent(STAND_IN["models/generator.py"]), "models/generator.py")
    assert "[-1, w//4, w//4, f_dim*2], f_dim*2*w//4*w//4" in text
    # the integer division rules touch only their own files
    other, _ = release.patch_source("x = w/4\ny = self.memory_size/2\n", "ops.py")
    assert other == "x = w/4\ny = self.memory_size/2\n"


def test_a_release_without_the_targeted_line_is_refused():
    with pytest.raises(release.ReleaseError, match=r"^--release: models/memory\.py has no .*memory_size/2"):
        release.patch_source("import tensorflow as tf\nhalf = size // 2\n", "models/memory.py")


def test_python2_prints_and_xrange_run_as_python2_printed(capsys):
    source = textwrap.dedent('''
        import sys
        def show(d, n):
            print "n is", n
            print "%d items" % \\
                len(d)
            for key in sorted(d.keys()): print key, d[key]
            print "no newline",
            print "here"
            print
            print >>sys.stdout, "to", "stdout"
            print("already a call")
            total = 0
            for i in xrange(n): total += i
            print total; return None
        ''')
    text, counts = release.modernize_python2(source)
    assert counts == {"print": 8, "xrange": 1}
    namespace = {}
    exec(compile(text, "<stand-in>", "exec"), namespace)
    assert namespace["show"]({"a": 1, "b": 2}, 4) is None
    assert capsys.readouterr().out == ("n is 4\n2 items\na 1\nb 2\nno newline here\n\nto stdout\n"
                                       "already a call\n6\n")
    # print as a name is left alone
    assert release.modernize_python2("print = log\nprint.x = 1\n")[0] == "print = log\nprint.x = 1\n"


def test_importer_runs_stand_in_modules_under_compat_v1_and_cleans_up(stand_in):
    import importlib

    import tensorflow as tf

    before = list(sys.meta_path)
    with release.ReleaseImporter(stand_in) as importer:
        memory = importlib.import_module("models.memory")
        config = importlib.import_module("models.config")
        assert memory.tf is tf.compat.v1
        # memory_size/2 as Python 2 meant it: the first half of the slots labelled real
        np.testing.assert_array_equal(memory.BaseMemory(8).mem_val_init, [1, 1, 1, 1, 0, 0, 0, 0])
        # contrib Categorical(probs).sample(n) -> tf.random.categorical(log probs, n)
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.set_random_seed(0)
            idxs = memory.BaseMemory(4).sample_histogram(tf.constant([0.0, 0.25, 0.75, 0.0]), 400)
            assert idxs.dtype == tf.int32 and idxs.shape.as_list() == [400]
            with tf.compat.v1.Session(graph=graph) as sess:
                drawn = sess.run(idxs)
        counts = np.bincount(drawn, minlength=4)
        assert counts[0] == 0 and counts[3] == 0  # slots of probability 0 are never drawn
        assert 0.6 < counts[2] / 400 < 0.9
        # run.py's exp flag (a string flag with the integer default 0) reaches Config as "0"
        flags = release.release_flags(release.release_flag_defaults(stand_in), {}, 2)
        assert config.Config(flags).exp_num == "0"
        assert "python 3 print" in importer.applied["models/config.py"]
        assert "integer division memory_size/2" in importer.applied["models/memory.py"]
    assert sys.meta_path == before
    assert not [name for name in sys.modules if name.split(".")[0] in ("models", "ops", "utils")]


def test_importer_maps_contrib_slim_to_tf_slim(stand_in):
    import importlib

    tf_slim = pytest.importorskip("tf_slim")  # the release extra
    with release.ReleaseImporter(stand_in):
        ops = importlib.import_module("ops")
        generator = importlib.import_module("models.generator")
        assert ops.slim is tf_slim and ops.ln is tf_slim.layer_norm
        # contrib add_arg_scope -> tf_slim's: arg_scope reaches the decorated function
        with tf_slim.arg_scope([ops.fc], scale=3):
            assert ops.fc(2) == 6
        assert ops.squares(4) == [0, 1, 4, 9]
        # w/4 as Python 2 meant it: the Fashion-MNIST generator starts from 7x7
        shape, units = generator.start_shape(28, 64)
        assert shape == [-1, 7, 7, 128] and units == 128 * 7 * 7 and isinstance(units, int)
    assert "ops" not in sys.modules and "models.generator" not in sys.modules


def test_importer_refuses_when_names_are_taken(stand_in, monkeypatch):
    monkeypatch.setitem(sys.modules, "utils", object())
    with pytest.raises(release.ReleaseError, match="^--release: modules named like the release's"):
        with release.ReleaseImporter(stand_in):
            pass


def test_contrib_loader_reads_local_idx_files(stand_in, tmp_path):
    rng = np.random.default_rng(0)
    x_train, y_train = rng.integers(0, 256, (5, 28, 28), np.uint8), rng.integers(0, 10, 5).astype(np.uint8)
    x_test, y_test = rng.integers(0, 256, (3, 28, 28, 1), np.uint8), rng.integers(0, 10, 3).astype(np.uint8)
    npz = str(tmp_path / "fashion.npz")
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    folder = release.idx_folder_from_npz(npz, str(tmp_path))
    # the project's own IDX reader reads back what the release's loader will read
    np.testing.assert_array_equal(data.load_idx(os.path.join(folder, "train-images-idx3-ubyte.gz")), x_train)
    np.testing.assert_array_equal(data.load_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz")), x_test[..., 0])
    np.testing.assert_array_equal(data.load_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz")), y_train)
    with release.ReleaseImporter(stand_in):
        import importlib

        fashion = importlib.import_module("fashion")
        found = fashion.read_data_sets(folder)
        assert found.train == os.path.join(folder, "train-images-idx3-ubyte.gz")
        with pytest.raises(release.ReleaseError, match="^--data_path: .*does not download"):
            fashion.read_data_sets(str(tmp_path / "empty"))


def test_release_flags_defaults_and_overrides(stand_in):
    defaults = release.release_flag_defaults(stand_in)
    assert defaults["exp"] == ("string", "0") and defaults["epoch"] == ("integer", 1500)
    flags = release.release_flags(defaults, {"loss": "alternative", "lr_decay": "true"}, 3)
    assert (flags.loss, flags.lr_decay, flags.epoch, flags.dataset) == ("alternative", True, 3, "fashion")
    for overrides, message in (({"nope": "1"}, "run.py has no flag 'nope'"),
                               ({"lr_decay": "maybe"}, "lr_decay=maybe is not a valid boolean"),
                               ({"dataset": "cifar10"}, "Fashion-MNIST only"),
                               ({"epoch": "5"}, "--epochs")):
        with pytest.raises(release.ReleaseError, match="^--release_flags: .*" + message.replace("(", ".")):
            release.release_flags(defaults, overrides, 3)
    assert release.parse_assignments(["mem_size=1024", " choose_k = 64"], "--release_config") == {
        "mem_size": "1024", "choose_k": "64"}
    with pytest.raises(release.ReleaseError, match="^--release_config: expected name=value"):
        release.parse_assignments(["mem_size"], "--release_config")


def test_config_overrides_are_typed_like_the_setting():
    class Config:
        def __init__(self):
            self.mem_size, self.lamb, self.loss = 4096, 1e-2, "jsd"

    config = Config()
    assert release.apply_config_overrides(config, {"mem_size": "1024", "lamb": "0.5"}) == {
        "mem_size": 1024, "lamb": 0.5}
    assert (config.mem_size, config.lamb) == (1024, 0.5)
    with pytest.raises(release.ReleaseError, match="^--release_config: the release's Config has no setting 'k'"):
        release.apply_config_overrides(config, {"k": "1"})


def test_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tf_slim", None)  # `import tf_slim` now fails
    with pytest.raises(release.ReleaseError) as err:
        release.require_extra()
    message = str(err.value)
    assert "\n" not in message and message.startswith("--release: ")
    assert "'release'" in message and "tf_slim is missing" in message and 'pip install -e ".[release]"' in message


def test_checkout_checks(stand_in, tmp_path):
    assert release.check_checkout(stand_in) == os.path.abspath(stand_in)
    with pytest.raises(release.ReleaseError, match="^--release: .* does not exist"):
        release.check_checkout(str(tmp_path / "nowhere"))
    (tmp_path / "other").mkdir()
    with pytest.raises(release.ReleaseError, match=r"^--release: .* is not a checkout of .*whyjay/memoryGAN"):
        release.check_checkout(str(tmp_path / "other"))


# ----------------------------------------------------------------- reading dumps
def write_fake_run(out, record=True):
    """Two memory dumps of 8 slots with 4-d keys, and the record of a run."""
    os.makedirs(os.path.join(out, "memory"))
    os.makedirs(os.path.join(out, "samples"))
    e0, e1, e2 = np.eye(4)[:3]
    # epoch 1: slots 0-3 labelled real; 0 and 1 hold the same key, 2 another, 3 never written
    keys = np.stack([e0, e0, e1, np.zeros(4), e2, e2, e1, e0]).astype(np.float32)
    values = np.array([1, 1, 1, 1, 0, 0, 0, 0], np.float32)
    histogram = np.array([2, 2, 4, 0, 3, 3, 3, 3], np.float32)
    np.savez(os.path.join(out, "memory", "step_00000937.npz"), keys=keys, values=values, histogram=histogram,
             ages=np.arange(8, dtype=np.float32))
    np.savez_compressed(os.path.join(out, "samples", "step_00000937.npz"),
                        images=np.zeros((4, 28, 28, 1), np.uint8))
    # epoch 2: slot 6 relabelled real with a third direction, uniform histogram 2 on real slots
    keys2 = keys.copy()
    keys2[6] = (e0 + e1) / np.sqrt(2)
    values2 = values.copy()
    values2[6] = 1
    np.savez(os.path.join(out, "memory", "step_00001874.npz"), keys=keys2, values=values2,
             histogram=np.full(8, 2.0, np.float32))
    if record:
        import json

        with open(os.path.join(out, release.RECORD_NAME), "w") as f:
            json.dump({"seed": 3, "dumps": [{"step": 937, "epoch": 1.0, "seconds_per_step": 0.15},
                                            {"step": 1874, "epoch": 2.0, "seconds_per_step": 0.16}]}, f)


def test_read_run_gives_health_by_hand(tmp_path):
    out = str(tmp_path / "run")
    write_fake_run(out)
    record, rows = release.read_run(out)
    assert record["seed"] == 3 and [r["step"] for r in rows] == [937, 1874]
    first, second = rows[0], rows[1]
    assert first["epoch"] == 1.0 and first["seconds_per_step"] == 0.15
    assert first["samples"].endswith(os.path.join("samples", "step_00000937.npz")) and second["samples"] is None
    h = first["health"]
    # written real slots: 0, 1, 2 (slot 3 is labelled real but its key was never written)
    assert h["real_slots"] == 3 and h["distinct_real_keys"] == 2
    # cosines among e0, e0, e1: pairs (0,1) = 1, (0,2) = (1,2) = 0 -> 2 / 6 over ordered pairs
    assert h["mean_real_cosine"] == pytest.approx(1 / 3)
    # prior h v over real slots = (2, 2, 4, 0) / 8 -> exp(H) = exp(-(2 * 1/4 ln 1/4 + 1/2 ln 1/2)) = 2^1.5
    assert h["effective_slots"] == pytest.approx(2 ** 1.5)
    assert h["real_share"] == 0.5
    h2 = second["health"]
    assert h2["real_slots"] == 4 and h2["distinct_real_keys"] == 3
    # gram of e0, e0, e1, (e0+e1)/sqrt2: off-diagonal sum 2 * (1 + 0 + c + 0 + c + c) with c = 1/sqrt2
    assert h2["mean_real_cosine"] == pytest.approx(2 * (1 + 3 / math.sqrt(2)) / 12)
    # five slots labelled real (0-3 and 6), histogram uniform -> five effective slots
    assert h2["effective_slots"] == pytest.approx(5.0) and h2["real_share"] == 5 / 8


def test_read_run_without_a_record_and_bad_folders(tmp_path):
    out = str(tmp_path / "run")
    write_fake_run(out, record=False)
    record, rows = release.read_run(out)
    assert record == {} and rows[0]["epoch"] is None and rows[0]["health"]["distinct_real_keys"] == 2
    with pytest.raises(release.ReleaseError, match="^--out: .* is not a release run"):
        release.read_run(str(tmp_path))
    np.savez(os.path.join(out, "memory", "step_00002811.npz"), keys=np.zeros((8, 4)), values=np.zeros(8))
    with pytest.raises(release.ReleaseError, match="^--out: memory dump .* lacks histogram .it has keys, values"):
        release.read_run(out)


# ------------------------------------------------------------------ the tool's errors
def run_tool(*args, extra_path=None, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(p for p in (extra_path, ROOT) if p))
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "release_reference.py"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "fashion_mnist.npz")
    zeros = np.zeros((4, 28, 28), np.uint8)
    np.savez(path, x_train=zeros, y_train=np.zeros(4, np.uint8), x_test=zeros, y_test=np.zeros(4, np.uint8))
    return path


@pytest.mark.messages
def test_tool_without_a_checkout(tmp_path, tiny_npz):
    result = run_tool("train", f"--release={tmp_path / 'missing'}", f"--out={tmp_path / 'out'}",
                      f"--data_path={tiny_npz}")
    assert_one_line_error(result, "--release:", "does not exist", "git clone https://github.com/whyjay/memoryGAN")
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.messages
def test_tool_probe_without_a_checkout_or_with_bad_counts(tmp_path):
    result = run_tool("probe", f"--release={tmp_path / 'missing'}")
    assert_one_line_error(result, "--release:", "does not exist")
    result = run_tool("probe", "--release=.", "--iterations=0")
    assert_one_line_error(result, "--iterations", "at least 1")


def test_probe_queries_are_fixed_unit_batches_whose_fakes_drift_onto_the_real_ones():
    queries = release.probe_queries(20, batch=16, key_dim=32)
    assert queries.shape == (20, 3, 16, 32) and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(queries, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(queries, release.probe_queries(20, batch=16, key_dim=32))
    real_mean = queries[:, 0].mean(axis=1)
    gap = [np.linalg.norm(queries[t, 1].mean(axis=0) - real_mean[t]) for t in (0, 19)]
    assert gap[1] < gap[0] / 2  # the generated queries approach the real ones


def test_probe_project_memory_is_deterministic_and_keeps_labels_in_range():
    queries = release.probe_queries(6, batch=4, key_dim=8)
    first = release.probe_project_memory(queries, memory_size=32, choose_k=4)
    np.testing.assert_array_equal(first, release.probe_project_memory(queries, memory_size=32, choose_k=4))
    assert first.shape == (6,) and np.all((first >= 0) & (first <= 32))
    assert first[0] < 16  # the first iteration's generated resets take real slots of the initial half


def test_probe_memory_options_are_the_release_flagfiles():
    """The probe writes as flags/fashion_mnist_release.flags trains."""
    flags = {}
    with open(os.path.join(ROOT, "flags", "fashion_mnist_release.flags")) as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith("--no"):
            flags[line[4:]] = False
        elif line.startswith("--") and "=" in line:
            name, value = line[2:].split("=", 1)
            flags[name] = value
    for name, value in release.RELEASE_MEMORY_OPTIONS.items():
        assert name in flags, name
        expected = flags[name] if isinstance(flags[name], bool) else type(value)(flags[name])
        assert value == expected, name


def test_release_side_trains_the_release_flagfile():
    """The side-by-side's release_flags_slim row is flags/fashion_mnist_release.flags."""
    from memorygan_tf import study

    with open(os.path.join(ROOT, "flags", "fashion_mnist_release.flags")) as f:
        flagfile = {line for line in f.read().splitlines() if line.startswith("--") and "--logdir" not in line}
    spec = study.load_spec(os.path.join(ROOT, "flags", "studies", "fashion_mnist_release_side.json"))
    assert set(spec.common_flags) | set(spec.runs["release_flags_slim"]) == flagfile | set(spec.common_flags)
    assert "--dataset=fashion_mnist" in spec.common_flags


@pytest.mark.messages
def test_tool_on_a_folder_that_is_not_the_release(tmp_path, tiny_npz):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "run.py").write_text("print('hello')\n")
    result = run_tool("train", f"--release={tmp_path / 'project'}", f"--out={tmp_path / 'out'}",
                      f"--data_path={tiny_npz}")
    assert_one_line_error(result, "--release:", "is not a checkout of https://github.com/whyjay/memoryGAN",
                          "ops.py")


@pytest.mark.messages
def test_tool_without_the_release_extra(tmp_path, stand_in, tiny_npz):
    shadow = tmp_path / "shadow"
    (shadow / "tf_slim").mkdir(parents=True)  # an installed-looking tf_slim whose import fails
    (shadow / "tf_slim" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tf_slim'\", name='tf_slim')\n")
    result = run_tool("train", f"--release={stand_in}", f"--out={tmp_path / 'out'}", f"--data_path={tiny_npz}",
                      extra_path=str(shadow))
    assert_one_line_error(result, "--release:", "optional extra 'release'", "tf_slim is missing",
                          'pip install -e ".[release]"')


@pytest.mark.slow
@pytest.mark.messages
def test_tool_flag_mistakes(tmp_path, stand_in, tiny_npz):
    result = run_tool("train", f"--release={stand_in}", f"--out={tmp_path / 'out'}", f"--data_path={tiny_npz}",
                      "--release_flags=dataset=cifar10")
    assert_one_line_error(result, "--release_flags:", "Fashion-MNIST only")
    result = run_tool("report", f"--out={tmp_path}")
    assert_one_line_error(result, "--out:", "is not a release run")


def test_tool_report_prints_health(tmp_path):
    out = str(tmp_path / "run")
    write_fake_run(out)
    result = run_tool("report", f"--out={out}")
    assert result.returncode == 0, result.stderr[-1500:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("epoch 1 (step 937): 2 distinct real keys, 3 effective slots, real share 0.500")
    assert lines[1].startswith("epoch 2 (step 1874): 3 distinct real keys, 5 effective slots, real share 0.625")


def test_score_run_scores_the_uint8_samples_as_images_in_unit_range(tmp_path):
    from memorygan_tf import evaluation

    out = str(tmp_path / "run")
    write_fake_run(out)
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 256, (20, 28, 28, 1), np.uint8)
    np.savez_compressed(os.path.join(out, "samples", "step_00000937.npz"), images=samples)
    x_test = rng.integers(0, 256, (30, 28, 28), np.uint8)
    npz = str(tmp_path / "fashion.npz")
    np.savez(npz, x_train=x_test, y_train=np.zeros(30, np.uint8), x_test=x_test, y_test=np.zeros(30, np.uint8))
    classifier = evaluation.build_classifier((28, 28, 1), width=4, blocks_per_stage=1)
    (tmp_path / "clf").mkdir()
    classifier.save(str(tmp_path / "clf" / "classifier.keras"))
    (tmp_path / "clf" / "classifier.json").write_text(json.dumps(dict(dataset="fashion_mnist", test_accuracy=0.5)))
    _, rows = release.read_run(out)
    scores, record = release.score_run(rows, str(tmp_path / "clf"), npz, splits=2)
    assert record["test_accuracy"] == 0.5 and record["path"] == str(tmp_path / "clf" / "classifier.keras")
    assert list(scores) == [937]  # the second dump has no samples
    heads = evaluation.classifier_heads(classifier)
    probs, features = evaluation.classify(heads, samples.astype(np.float32) / 255.0)
    _, test_features = evaluation.classify(heads, x_test[..., None].astype(np.float32) / 255.0)
    expected = evaluation.sample_quality(probs, features, test_features, 2)
    assert scores[937]["num_samples"] == 20
    for key in ("inception_score", "fid"):
        assert scores[937][key] == pytest.approx(expected[key], rel=1e-4)
    with pytest.raises(release.ReleaseError, match="^--classifier: no .*classifier.keras"):
        release.score_run(rows, str(tmp_path), npz)
    (tmp_path / "clf" / "classifier.json").write_text(json.dumps(dict(dataset="mnist")))
    with pytest.raises(release.ReleaseError, match="^--classifier: .* was trained on mnist, not fashion_mnist"):
        release.score_run(rows, str(tmp_path / "clf"), npz)


# ------------------------------------------------------------ the side-by-side report
STEPS = 937  # the shipped studies' steps_per_epoch, as the release's 60,000 // 64
W16 = dict(dataset="fashion_mnist", width=16, epochs=12, seed=0, test_accuracy=0.93, seconds=1602.1,
           path="/classifiers/fashion_mnist_w16/classifier.keras")
W32 = dict(W16, width=32, test_accuracy=0.94, seconds=3000.0, path="/classifiers/fashion_mnist_w32/classifier.keras")
# Epoch 3's FID and IS, seed 0, 1, 2: the release flags clearly ahead on FID, level on IS.
EPOCH3 = {"release": ([20.0, 21.0, 22.0], [5.0, 5.1, 5.2]), "release_flags": ([10.0, 11.0, 12.0], [4.9, 5.3, 5.1]),
          "release_flags_bn": ([10.0, 11.0, 12.0], [4.9, 5.3, 5.1]),
          "memorygan": ([14.0, 15.0, 16.0], [6.0, 6.1, 6.2]), "dcgan": ([8.0, 9.0, 10.0], [7.0, 7.0, 7.1])}


def _scores(name, seed, epoch):
    fid, inception = EPOCH3[name]
    if epoch == 3:
        return dict(fid=fid[seed], inception_score=inception[seed], kid=0.1 * (seed + 1), precision=0.8, recall=0.3)
    return dict(fid=40.0 / epoch + seed, inception_score=3.0 + epoch, kid=0.5, precision=0.7, recall=0.2)


def _write_json(path, value):

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f)


def write_release_seed(root, seed, classifier=W16, scored=True, folder="release", fid_shift=0.0):
    """ROOT/release/seed_N as train + report write it: 3 epochs, 20,000 images an epoch
    (`folder` release_repeat: the seed trained again, its FID `fid_shift` off)."""
    run = os.path.join(root, folder, f"seed_{seed}")
    dumps = [dict(step=e * STEPS, epoch=float(e), seconds_per_step=0.15 + 0.01 * seed,
                  health=dict(distinct_real_keys=100 + 10 * seed, effective_slots=30.0 + e, real_share=0.5))
             for e in (1, 2, 3)]
    _write_json(os.path.join(run, release.RECORD_NAME),
                dict(flags=dict(loss="jsd", epoch=3), config=dict(mem_size=4096), seed=seed, epochs=3,
                     steps_per_epoch=STEPS, num_samples=20000, dumps=dumps))
    if scored:
        rows = [dict(d, scores=dict(_scores("release", seed, e), num_samples=20000)) for e, d in zip((1, 2, 3), dumps)]
        for row in rows:
            row["scores"]["fid"] += fid_shift
        _write_json(os.path.join(run, "scores.json"), dict(classifier=classifier, rows=rows))


def write_study_seed(root, study_name, run, seed, counts, classifier=W16, memory=True):
    """A study's run directory: config.json and eval/step_N.json at epoch e scored with counts[e] images."""
    logdir = os.path.join(root, study_name, run, f"seed_{seed}")
    _write_json(os.path.join(logdir, "config.json"), dict(model=dict(model=run), train=dict(seed=seed)))
    for epoch, count in counts.items():
        result = dict(_scores(run, seed, epoch), step=epoch * STEPS, num_samples=count, classifier=classifier)
        if memory:
            result.update(distinct_real_keys=200 + seed, effective_slots=20.0)
        _write_json(os.path.join(logdir, "eval", f"step_{epoch * STEPS:08d}.json"), result)
    return logdir


def fake_side_root(root, release_seeds=(0, 1, 2), dcgan_epoch3=20000):
    """The release and the release flags at 20,000 images every epoch; the fair study's runs at
    5,000 at epochs 1 and 2, and at epoch 3 the default at 20,000, the DCGAN at `dcgan_epoch3`."""
    for seed in release_seeds:
        write_release_seed(root, seed)
    for seed in (0, 1, 2):
        write_study_seed(root, "fashion_mnist_release_side", "release_flags", seed, {1: 20000, 2: 20000, 3: 20000})
        write_study_seed(root, "fashion_mnist_fair", "memorygan", seed, {1: 5000, 2: 5000, 3: 20000})
        write_study_seed(root, "fashion_mnist_fair", "dcgan", seed, {1: 5000, 2: 5000, 3: dcgan_epoch3}, memory=False)
    return str(root)


def shipped_specs(repeat=False):
    from memorygan_tf import study

    names = ["fashion_mnist_release_side", "fashion_mnist_fair"] + (["fashion_mnist_fair_repeat"] if repeat else [])
    return [study.load_spec(os.path.join(ROOT, "flags", "studies", f"{name}.json")) for name in names]


def side_report(root, repeat=False):
    return release.side_report(release.collect_side(root, *shipped_specs(repeat)))


def _verdicts(report):
    return {(c["a"], c["b"], c["metric"]): c for c in report["comparisons"]}


def test_side_tables_give_mean_std_and_each_seed(tmp_path):
    report = side_report(fake_side_root(tmp_path))
    epoch3 = report["tables"][3]
    fid = epoch3["release"]["columns"]["fid"]
    assert fid["values"] == [20.0, 21.0, 22.0]
    assert fid["mean"] == pytest.approx(21.0) and fid["std"] == pytest.approx(1.0)
    # IS 4.9, 5.3, 5.1: mean 5.1, squared deviations 0.04 + 0.04 + 0 over n - 1 = 2 -> std 0.2
    inception = epoch3["release_flags"]["columns"]["inception_score"]
    assert inception["mean"] == pytest.approx(5.1) and inception["std"] == pytest.approx(0.2)
    # the release's health and speed come from release_run.json: keys 100, 110, 120; 0.15, 0.16, 0.17 s
    columns = epoch3["release"]["columns"]
    assert columns["distinct_real_keys"]["mean"] == pytest.approx(110.0)
    assert columns["distinct_real_keys"]["std"] == pytest.approx(10.0)
    assert columns["seconds_per_step"]["mean"] == pytest.approx(0.16)
    assert columns["real_share"]["values"] == [0.5, 0.5, 0.5]
    # a DCGAN has no memory; the project's runs here have no TensorBoard log to time them by
    assert epoch3["dcgan"]["columns"]["effective_slots"]["values"] == []
    assert epoch3["memorygan"]["columns"]["seconds_per_step"]["values"] == []
    assert [epoch3[name]["num_samples"] for name in ("release", "release_flags", "memorygan", "dcgan")] == [
        [20000]] * 4
    assert report["tables"][1]["memorygan"]["num_samples"] == [5000]
    assert report["classifier"] == W16
    seed0 = report["rows"]["release"]["seeds"][0]
    assert seed0["config"]["flags"] == {"loss": "jsd", "epoch": 3} and "dumps" not in seed0["config"]
    assert seed0["epochs"][3]["classifier"] == {"path": W16["path"], "test_accuracy": 0.93}
    assert report["rows"]["memorygan"]["seeds"][1]["config"] == {"model": {"model": "memorygan"}, "train": {"seed": 1}}
    text = release.side_text(report)
    assert ("| release: the authors' release | 3 | 20,000 | 5.1 +- 0.1 (5 / 5.1 / 5.2) | 21 +- 1 (20 / 21 / 22) |"
            in text)
    assert "| 110 +- 10 | 33 +- 0 | 0.5 +- 0 | 0.16 +- 0.01 |" in text
    assert "| dcgan: the DCGAN, z 32 | 3 | 20,000 |" in text and "test accuracy 0.9300" in text
    # epoch 1: each row says its count, and the table says which rows share one
    assert "| memorygan: the project's default | 3 | 5,000 |" in text
    assert ("Images scored: 5,000 for memorygan, dcgan; 20,000 for release, release_flags. FID, KID, precision "
            "and recall depend on that number") in text


def test_side_verdicts_clear_and_level(tmp_path):
    verdicts = _verdicts(side_report(fake_side_root(tmp_path)))
    clear = verdicts[("release_flags", "release", "fid")]
    # 10, 11, 12 against 20, 21, 22: t = -10 / sqrt(2/3) = -12.25 on 4 degrees of freedom
    assert clear["verdict"] == "release_flags better" and clear["diff"] == pytest.approx(-10.0)
    assert clear["p"] < 0.001 and clear["ci"][1] < 0 and clear["step"] == 3 * STEPS and clear["epochs"] == 3
    level = verdicts[("release_flags", "release", "inception_score")]
    assert level["verdict"] == "level" and level["diff"] == pytest.approx(0.0) and level["ci"][0] < 0 < level["ci"][1]
    assert verdicts[("memorygan", "release", "inception_score")]["verdict"] == "memorygan better"  # IS: higher
    assert set(verdicts) == {("release_flags_bn", "release", "fid"), ("release_flags_bn", "release", "inception_score"),
                             ("release_flags_bn_generated_first", "release", "fid"),
                             ("release_flags_bn_generated_first", "release", "inception_score"),
                             ("release_flags_slim", "release", "fid"), ("release_flags_slim", "release", "inception_score"),
                             ("release_flags", "release", "fid"), ("release_flags", "release", "inception_score"),
                             ("memorygan", "release", "fid"), ("memorygan", "release", "inception_score"),
                             ("dcgan", "release", "fid")}
    assert verdicts[("release_flags_bn", "release", "fid")]["verdict"] == "release_flags_bn not run"


def test_side_verdicts_must_clear_the_rerun_spread(tmp_path):
    root = fake_side_root(tmp_path)
    assert _verdicts(side_report(root))[("memorygan", "release", "fid")]["verdict"] == "memorygan better"
    # With the repeat study in the protocol, no verdict before its spread is measured.
    waiting = _verdicts(side_report(root, repeat=True))[("memorygan", "release", "fid")]
    assert waiting["verdict"] == "pending: memorygan ahead, one seed's rerun spread not measured"
    # seed 0 of the default trained again: FID 15 where the first run gave 14, a spread of 1 < the gap of 6
    logdir = write_study_seed(root, "fashion_mnist_fair_repeat", "memorygan", 0, {3: 20000})
    path = os.path.join(logdir, "eval", f"step_{3 * STEPS:08d}.json")
    _write_json(path, dict(fid=15.0, inception_score=6.0, step=3 * STEPS, num_samples=20000, classifier=W16))
    assert _verdicts(side_report(root, repeat=True))[("memorygan", "release", "fid")]["verdict"] == "memorygan better"
    # FID 21 where the first run gave 14: a spread of 7 > the gap of 6
    _write_json(path, dict(fid=21.0, inception_score=6.0, step=3 * STEPS, num_samples=20000, classifier=W16))
    again = _verdicts(side_report(root, repeat=True))[("memorygan", "release", "fid")]
    assert again["verdict"] == "level" and again["spread"] == pytest.approx(7.0)


def test_side_takes_the_rerun_spread_of_every_repeat_study(tmp_path):
    from memorygan_tf import study

    root = fake_side_root(tmp_path)
    for seed in (0, 1, 2):
        write_study_seed(root, "fashion_mnist_release_side", "release_flags_bn", seed, {1: 20000, 2: 20000, 3: 20000})
    side_repeat = study.load_spec(os.path.join(ROOT, "flags", "studies", "fashion_mnist_release_side_repeat.json"))
    side_spec = shipped_specs()[0]
    for run in side_repeat.runs:  # a rerun is the same flags trained again
        assert side_repeat.runs[run] == side_spec.runs[run]
    assert side_repeat.common_flags == side_spec.common_flags and side_repeat.num_samples == side_spec.num_samples
    both = [*shipped_specs(repeat=True), side_repeat]
    # release_flags_bn 10 / 11 / 12 against the release's 20 / 21 / 22: a gap of 10, pending its spread
    waiting = _verdicts(release.side_report(release.collect_side(root, *both)))
    assert waiting[("release_flags_bn", "release", "fid")]["verdict"] == (
        "pending: release_flags_bn ahead, one seed's rerun spread not measured")
    # seed 0 (FID 10 at epoch 3) trained again by the release side's repeat: 13, a spread of 3 < 10
    logdir = write_study_seed(root, "fashion_mnist_release_side_repeat", "release_flags_bn", 0, {3: 20000})
    _write_json(os.path.join(logdir, "eval", f"step_{3 * STEPS:08d}.json"),
                dict(fid=13.0, inception_score=5.0, step=3 * STEPS, num_samples=20000, classifier=W16))
    # and the fair repeat's default, seed 0 (14 at epoch 3): 15, so both studies are read
    logdir = write_study_seed(root, "fashion_mnist_fair_repeat", "memorygan", 0, {3: 20000})
    _write_json(os.path.join(logdir, "eval", f"step_{3 * STEPS:08d}.json"),
                dict(fid=15.0, inception_score=6.0, step=3 * STEPS, num_samples=20000, classifier=W16))
    side = release.collect_side(root, *both)
    assert sorted(side["repeat"]) == ["memorygan", "release_flags_bn"]
    verdicts = _verdicts(release.side_report(side))
    bn = verdicts[("release_flags_bn", "release", "fid")]
    assert bn["verdict"] == "release_flags_bn better" and bn["spread"] == pytest.approx(3.0)
    assert verdicts[("memorygan", "release", "fid")]["spread"] == pytest.approx(1.0)
    # a study's spread counts only for its own runs: the generated-first row was not trained again
    assert verdicts[("release_flags_bn_generated_first", "release", "fid")]["verdict"] == (
        "release_flags_bn_generated_first not run")


def test_side_takes_the_release_rerun_spread(tmp_path):
    root = fake_side_root(tmp_path)
    # The DCGAN (8 / 9 / 10 against the release's 20 / 21 / 22) trained again: FID 9 where it gave 8
    logdir = write_study_seed(root, "fashion_mnist_fair_repeat", "dcgan", 0, {3: 20000}, memory=False)
    _write_json(os.path.join(logdir, "eval", f"step_{3 * STEPS:08d}.json"),
                dict(fid=9.0, inception_score=7.0, step=3 * STEPS, num_samples=20000, classifier=W16))
    assert _verdicts(side_report(root, repeat=True))[("dcgan", "release", "fid")]["spread"] == pytest.approx(1.0)
    # the release's seed 0 trained again, 13 off: its spread (13) outweighs the DCGAN's and the gap of 12
    write_release_seed(root, 0, folder="release_repeat", fid_shift=13.0)
    side = release.collect_side(root, *shipped_specs(repeat=True))
    assert sorted(side["repeat"]["release"]) == [0] and side["repeat"]["release"][0][3]["fid"] == 33.0
    dcgan = _verdicts(release.side_report(side))[("dcgan", "release", "fid")]
    assert dcgan["spread"] == pytest.approx(13.0) and dcgan["verdict"] == "level"
    # without a repeat study in the protocol the rerun is not read (no spread is asked for)
    assert release.collect_side(root, *shipped_specs())["repeat"] is None
    # a rerun trained but not scored yet gives no spread
    write_release_seed(root, 0, folder="release_repeat", scored=False)
    os.remove(os.path.join(root, "release_repeat", "seed_0", "scores.json"))
    assert "release" not in release.collect_side(root, *shipped_specs(repeat=True))["repeat"]


def test_side_rows_at_different_sample_counts_are_not_compared(tmp_path):
    report = side_report(fake_side_root(tmp_path, dcgan_epoch3=5000))
    dcgan = _verdicts(report)[("dcgan", "release", "fid")]
    assert dcgan["verdict"] == "not compared: dcgan scored with 5,000 images, release with 20,000"
    assert "p" not in dcgan and dcgan["num_samples_a"] == [5000] and dcgan["num_samples_b"] == [20000]
    assert "| fid | 2811 | dcgan | release | - | - | - | - | - | - | not compared: dcgan scored with 5,000" in (
        release.side_text(report))


def test_side_refuses_scores_of_two_classifiers_in_one_line(tmp_path):
    root = fake_side_root(tmp_path)
    write_release_seed(root, 2, classifier=W32)
    with pytest.raises(release.ReleaseError) as err:
        release.collect_side(root, *shipped_specs())
    message = str(err.value)
    assert "\n" not in message and message.startswith("--root: the scores were made by 2 classifiers")
    assert "release seed 0 epoch 1 by ResNet w16 (test accuracy 0.9300)" in message
    assert "release seed 2 epoch 1 by ResNet w32 (test accuracy 0.9400) at /classifiers/fashion_mnist_w32" in message
    # the same classifier copied to another folder is the same classifier
    write_release_seed(root, 2, classifier=dict(W16, path="/elsewhere/classifier.keras"))
    assert release.collect_side(root, *shipped_specs())["classifier"]["width"] == 16


def test_side_shows_a_side_not_run_and_one_not_scored_yet(tmp_path):
    root = fake_side_root(tmp_path, release_seeds=())
    report = side_report(root)
    assert report["tables"][3]["release"]["status"] == "not run"
    assert _verdicts(report)[("release_flags", "release", "fid")]["verdict"] == "release not run"
    text = release.side_text(report)
    assert "| release: the authors' release | not run | - |" in text
    assert ("| release_flags: the release flags, earlier code (Keras's batch-norm epsilon, no D-step ages) | 3 | 20,000 "
            "| 5.1 +- 0.2 (4.9 / 5.3 / 5.1) |") in text
    # half-way: seed 0 of the release trained, not scored yet: its health shows, no score
    write_release_seed(root, 0, scored=False)
    report = side_report(root)
    row = report["tables"][3]["release"]
    assert row["status"] == "run" and row["seeds"] == [0] and row["num_samples"] == []
    assert row["columns"]["fid"]["values"] == [] and row["columns"]["distinct_real_keys"]["values"] == [100.0]
    assert _verdicts(report)[("release_flags", "release", "fid")]["verdict"] == "not scored"


def test_side_reads_speed_and_real_share_from_the_run_log(tmp_path):
    root = fake_side_root(tmp_path)
    side = release.collect_side(root, *shipped_specs())
    logs = {"steps_per_second": {50: 1.0, 100: 4.0, 937: 5.0, 950: 2.0}, "memory/real_rate": {937: 0.4, 900: 0.1}}
    release.add_run_logs(side, read_log=lambda logdir: logs if "memorygan" in logdir else {})
    entries = side["rows"]["memorygan"]["seeds"][0]["epochs"]
    # epoch 1 (steps 1-937): median of 1, 4, 5 steps a second -> 0.25 s; epoch 2: the interval ending at 950
    assert entries[1]["seconds_per_step"] == pytest.approx(0.25)
    assert entries[2]["seconds_per_step"] == pytest.approx(0.5) and entries[3]["seconds_per_step"] is None
    assert entries[1]["real_share"] == 0.4 and entries[2]["real_share"] is None
    # the release's stay those of its release_run.json
    assert side["rows"]["release"]["seeds"][1]["epochs"][1]["seconds_per_step"] == pytest.approx(0.16)


def test_read_run_log_reads_the_scalars_a_run_writes(tmp_path):
    import tensorflow as tf

    for first in (0, 2):  # a run trained in two calls writes two event files
        writer = tf.summary.create_file_writer(str(tmp_path))
        with writer.as_default():
            for step in (first * 50 + 50, first * 50 + 100):
                tf.summary.scalar("steps_per_second", float(step) / 10, step=step)
                tf.summary.scalar("memory/real_rate", 0.25, step=step)
        writer.close()
    log = release.read_run_log(str(tmp_path))
    assert log["steps_per_second"] == pytest.approx({50: 5.0, 100: 10.0, 150: 15.0, 200: 20.0})
    assert log["memory/real_rate"][200] == 0.25
    assert release.read_run_log(str(tmp_path / "none")) == {"steps_per_second": {}, "memory/real_rate": {}}


def test_tool_compare_prints_and_writes_the_side_by_side(tmp_path):

    root = fake_side_root(tmp_path / "root")
    out = str(tmp_path / "side.json")
    # No repeat study (the shipped one has no runs here): verdicts need no rerun spread.
    result = run_tool("compare", f"--root={root}", f"--out={out}", "--repeat_spec=")
    assert result.returncode == 0, result.stderr[-1500:]
    assert "| release: the authors' release | 3 | 20,000 | 5.1 +- 0.1 (5 / 5.1 / 5.2) | 21 +- 1 (20 / 21 / 22) |" in (
        result.stdout)
    assert "release_flags better" in result.stdout
    with open(out) as f:
        written = json.load(f)
    assert written["rows"]["release"]["seeds"]["2"]["epochs"]["3"]["fid"] == 22.0
    assert written["tables"]["3"]["release"]["columns"]["fid"]["std"] == pytest.approx(1.0)
    assert written["classifier"]["test_accuracy"] == 0.93
    assert written["specs"]["fair_spec"]["name"] == "fashion_mnist_fair"
    assert [c["verdict"] for c in written["comparisons"]][:8] == ["release_flags_bn not run"] * 2 + [
        "release_flags_bn_generated_first not run"] * 2 + ["release_flags_slim not run"] * 2 + [
        "release_flags better", "level"]


@pytest.mark.messages
def test_tool_compare_refuses_two_classifiers(tmp_path):
    root = fake_side_root(tmp_path)
    write_release_seed(root, 1, classifier=W32)
    result = run_tool("compare", f"--root={root}")
    assert_one_line_error(result, "--root: the scores were made by 2 classifiers", "release seed 1 epoch 1")
    result = run_tool("compare", f"--root={tmp_path / 'nowhere'}")
    assert_one_line_error(result, "--root:", "is not a folder")


# ------------------------------------------------------------ one step, both codes
def test_initial_release_memory_is_the_releases_before_training():
    keys, values, ages, histogram = release.initial_release_memory(size=8, key_dim=3)
    assert not keys.any() and not ages.any()
    np.testing.assert_array_equal(values, [1, 1, 1, 1, 0, 0, 0, 0])  # memory.py: mem_val_init[size/2:] = 0
    np.testing.assert_allclose(histogram, 1e-5)


def test_step_inputs_sample_slots_by_the_real_prior_only():
    keys = np.eye(6, 4, dtype=np.float32)
    values = np.array([1, 1, 0, 0, 1, 0], np.float32)
    histogram = np.array([0.0, 3.0, 5.0, 5.0, 1.0, 5.0], np.float32)
    inputs = release.step_inputs(np.zeros((64, 28, 28, 1), np.uint8), (keys, values, np.zeros(6), histogram))
    for step in ("d", "g"):
        assert inputs["z_" + step].shape == (64, 2) and np.abs(inputs["z_" + step]).max() <= 1
        slots = inputs["slots_" + step]
        assert set(slots) <= {1, 4}  # h v > 0 only there
        assert 0.6 < np.mean(slots == 1) < 0.9  # h v: 3 against 1
    np.testing.assert_array_equal(inputs["slots_d"], release.step_inputs(
        np.zeros((64, 28, 28, 1), np.uint8), (keys, values, np.zeros(6), histogram))["slots_d"])
    with pytest.raises(ValueError, match="no real-labelled slot"):
        release.step_inputs(np.zeros((64, 28, 28, 1), np.uint8), (keys, values * 0, np.zeros(6), histogram))


def _memory_after(values_d, values_g, n=4):
    out = {}
    for step, values in (("d", values_d), ("g", values_g)):
        out.update({f"memory_after_{step}/keys": np.zeros((n, 2)), f"memory_after_{step}/values": np.array(values),
                    f"memory_after_{step}/ages": np.zeros(n), f"memory_after_{step}/histogram": np.ones(n)})
    return out


def test_compare_step_by_hand():
    scalars = dict(d_real=0.5, d_fake=0.25, d_gan_loss=1.0, d_info=2.0, g_gan_loss=-1.0, g_info=4.0)
    theirs = dict(scalars, **{"grad/d_/w": np.array([3.0, 4.0])}, **_memory_after([1, 0, 0, 1], [0, 0, 0, 0]))
    ours = dict(scalars, d_info=2.5, **{"grad/d_/w": np.array([3.0, 4.5])}, **_memory_after([1, 1, 0, 0], [0, 0, 0, 0]))
    rows = {row[0]: row[1:] for row in release.compare_step(theirs, ours)}
    assert rows["d_info"] == (2.0, 2.5, 0.25)
    assert rows["d_real"][2] == 0.0
    norm, norm_here, relative, cosine = rows["grad/d_/w"]
    assert norm == 5.0 and relative == pytest.approx(0.1)
    assert norm_here == pytest.approx(np.hypot(3, 4.5)) and cosine == pytest.approx(27 / (5 * np.hypot(3, 4.5)))
    assert rows["memory after the D step: slots that differ"] == (2,)
    assert rows["memory after the G step: slots that differ"] == (0,)
    assert "| grad/d_/w | 5 |" in release.step_text(release.compare_step(theirs, ours))


def _release_like_weights(seed=0):
    """Release-style names and N(0, 0.02) values for this project's networks' variables
    other than batch norm's scale, in their order (d_ for the encoder, g_ for the generator)."""
    from memorygan_tf import models

    model = models.build(release.release_flags_config(release.STEP_BATCH, loss="jsd", mi_form="release").model)
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, network in (("d_", model.encoder), ("g_", model.generator)):
        for i, v in enumerate(w for w in network.trainable_variables if not w.path.endswith("gamma")):
            out[f"weight/{prefix}/v{i}"] = rng.normal(0, 0.02, v.shape).astype(np.float32)
    return out


@pytest.mark.slow  # three full-size models and steps (~20 s)
def test_project_step_copies_the_weights_and_is_deterministic():
    x = np.random.default_rng(1).integers(0, 256, (64, 28, 28, 1)).astype(np.uint8)
    inputs = release.step_inputs(x, release.initial_release_memory(), seed=3)
    weights = _release_like_weights()
    first, pairs = release.project_step(inputs, weights, bn_epsilon=1e-3)
    assert len(pairs) == len(weights)
    for name, variable in pairs:
        np.testing.assert_array_equal(variable.numpy(), weights["weight/" + name])
    second, _ = release.project_step(inputs, weights, bn_epsilon=1e-3)
    for row in release.compare_step(dict(weights, **first), second):
        if row[0].startswith("grad/"):
            assert row[3] < 1e-6 and row[1] > 0, row  # every mapped variable has a gradient
        elif row[0].startswith("memory"):
            assert row[1] == 0, row
        else:
            assert row[3] < 1e-6, row
    # the first step writes the real batch: the initial memory's real slots take its queries
    assert (np.abs(first["memory_after_d/keys"]).sum(axis=1) > 0).sum() >= 64
    other, _ = release.project_step(inputs, weights)  # --bn_epsilon's default: the same weights, other outputs
    assert abs(other["d_info"] - first["d_info"]) > 1e-4


def test_project_step_refuses_weights_that_do_not_line_up():
    weights = _release_like_weights()
    weights.pop(next(k for k in weights if k.startswith("weight/g_")))
    inputs = release.step_inputs(np.zeros((64, 28, 28, 1), np.uint8), release.initial_release_memory())
    with pytest.raises(ValueError, match="g_: 7 release variables against 8 here"):
        release.project_step(inputs, weights)


@pytest.mark.messages
def test_tool_step_without_a_checkout(tmp_path):
    result = run_tool("step", f"--release={tmp_path / 'missing'}")
    assert_one_line_error(result, "--release:", "does not exist")


@pytest.mark.parametrize("order, outcome", [("real_first", "fake/fake/fake"), ("generated_first", "fake/fake/real")])
def test_memorygan_first_d_step_in_either_order(order, outcome):
    """From the release's initial memory, MemoryGAN's D-step writes (the model's own path)
    leave on the slots both writes write: real_first, the generated batch's keys, labels
    and histogram, the outcome of 15 of 20 runs of the release's first D step
    (docs/results/release_one_step.json); generated_first, the generated batch's keys and
    labels with the real write's histogram, an outcome the release did not give there."""
    import tensorflow as tf

    from memorygan_tf import models

    batch, k, size, key_dim = 8, 16, 64, 8
    config = release.release_flags_config(batch, memory_size=size, choose_k=k, key_dim=key_dim, d_write_order=order)
    model = models.build(config.model)
    memory = model.memory
    for variable, value in zip((memory.keys, memory.values, memory.ages, memory.histogram),
                               release.initial_release_memory(size, key_dim)):
        variable.assign(value)
    rng = np.random.default_rng(0)
    real, fake = (tf.constant(rng.normal(size=(batch, key_dim)), tf.float32) for _ in range(2))
    plans = memory.plan_update(real, tf.ones([batch])), memory.plan_update(fake, tf.zeros([batch]))
    model.after_discriminator_step(plans, ())
    after = dict(keys=memory.keys.numpy(), values=memory.values.numpy(), histogram=memory.histogram.numpy())
    assert release.first_step_overlap(after, batch=batch) == outcome
    if order == "real_first":  # the generated resets' histogram is the mean after the real write
        np.testing.assert_allclose(after["histogram"][:batch], (k * (1 + 0.5e-5) + (size - k) * 1e-5) / size,
                                   rtol=1e-3)
