"""The authors' TF1 release (github.com/whyjay/memoryGAN) run from a user's own checkout.

Nothing of the release is copied into this project: the user clones it, and this module
imports its modules from that checkout through an import hook that rewrites their source
in memory (never on disk) so that Python 3 and TensorFlow 2.21's `tf.compat.v1` run them:

- `import tensorflow as tf` -> `import tensorflow.compat.v1 as tf` (the caller runs
  `disable_v2_behavior()` before building the graph);
- `tf.contrib.slim` -> `tf_slim`, `tf.contrib.framework.add_arg_scope` ->
  `tf_slim.add_arg_scope`, `tf.contrib.layers.layer_norm` -> `tf_slim.layer_norm`
  (tf_slim's batch norm needs tf_keras of the same TensorFlow version: the `release`
  extra);
- contrib's `Categorical(probs=p).sample(n)` -> `tf.random.categorical(log p, n)`
  (:class:`Categorical`);
- Python 3 integer division where the release relies on Python 2's: `memory_size/2` in
  models/memory.py (the real/fake split of the slot labels) and `w/4` in
  models/generator.py (the Fashion-MNIST generator's 7x7 start);
- print statements -> print(), xrange -> range (:func:`modernize_python2`);
- contrib's MNIST loader base (`maybe_download`, `Datasets`) -> :data:`learn_base`, which
  reads local IDX files and never downloads;
- run.py's `exp` flag, whose default is the integer 0 in a string flag, read as "0"
  (:func:`release_flag_defaults`; run.py itself is never imported).

:func:`train_release` then trains the release's own MemoryGAN (its Config, model, memory,
losses, optimisers and data loader) on local Fashion-MNIST with the step order of its
models/train.py (one D step, then one G step, both fed a fresh z ~ U(-1, 1)), and writes
what this project's runs give for scoring: after every epoch the memory (keys, values,
histogram, ages) and generated samples as .npz, plus a JSON record. :func:`read_run` reads
such a folder back with the memory health of :func:`memorygan_tf.models.memorygan.report.memory_health`.

The side-by-side (:func:`collect_side`, :func:`add_run_logs`, :func:`side_report`,
:func:`side_text`) puts the release's runs beside the project's release flags, default
and DCGAN of the studies, one table an epoch and the verdicts of
:func:`memorygan_tf.study.compare`, only between rows scored by one classifier with as
many images.

Library code: no flags are read here; user mistakes raise :class:`ReleaseError`, whose
message starts with the command-line flag concerned.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import dataclasses
import gzip
import importlib
import importlib.abc
import importlib.util
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
import tokenize
import types

import numpy as np

RELEASE_URL = "https://github.com/whyjay/memoryGAN"
RELEASE_COMMIT = "cfc5e8cf37f9537a3136595a6afa734335622202"  # the release's last commit (2018-04-03)
EXTRA = "release"
INSTALL_HINT = f'pip install -e ".[{EXTRA}]"'
# Files whose presence says a folder is a checkout of the release.
MARKER_FILES = ("run.py", "ops.py", "utils.py", "fashion.py", "models/config.py", "models/memory.py",
                "models/memory_gan.py", "models/generator.py", "models/discriminator.py", "models/train.py")
RECORD_NAME = "release_run.json"
MEMORY_DIR = "memory"
SAMPLES_DIR = "samples"
DATASET = "fashion"  # the release's name of the only data set this module feeds


class ReleaseError(RuntimeError):
    """A user-facing problem, its message starting with the flag concerned (`--release: ...`)."""


# ------------------------------------------------------------------ the source shims
@dataclasses.dataclass(frozen=True)
class Rewrite:
    """One textual shim: `pattern` (a regex, multi-line mode) replaced by `replacement` in
    the release files `files` (every file when empty); `required` rewrites must match in
    each of their files, else the checkout is not the release this module knows."""

    name: str
    pattern: str
    replacement: str
    files: tuple = ()
    required: bool = False


REWRITES = (
    Rewrite("tensorflow.compat.v1", r"^(\s*)import tensorflow as tf\b", r"\1import tensorflow.compat.v1 as tf"),
    Rewrite("tf.contrib.slim -> tf_slim", r"\btf\.contrib\.slim\b", "tf_slim"),
    Rewrite("contrib add_arg_scope -> tf_slim", r"\btf\.contrib\.framework\.add_arg_scope\b",
            "tf_slim.add_arg_scope"),
    Rewrite("contrib layer_norm -> tf_slim", r"\btf\.contrib\.layers\.layer_norm\b", "tf_slim.layer_norm"),
    Rewrite("contrib Categorical -> tf.random.categorical", r"\btf\.contrib\.distributions\.Categorical\b",
            "_release_shims.Categorical"),
    Rewrite("contrib MNIST loader -> local IDX files",
            r"^from tensorflow\.contrib\.learn\.python\.learn\.datasets import base[ \t]*$",
            "base = _release_shims.learn_base"),
    Rewrite("integer division memory_size/2", r"\bself\.memory_size/2\b", "self.memory_size//2",
            files=("models/memory.py",), required=True),
    Rewrite("integer division w/4", r"\bw/4\b", "w//4", files=("models/generator.py",), required=True),
)


def _print_statements(tokens):
    """[(significant tokens, i, j)]: every Python 2 print statement, a `print` name at the
    start of a statement that is not called or used as a name, from significant[i] up to
    significant[j], the end of its logical line (or a `;` outside brackets)."""
    significant = [t for t in tokens if t.type not in (tokenize.NL, tokenize.COMMENT)]
    found = []
    for i, tok in enumerate(significant):
        if tok.type != tokenize.NAME or tok.string != "print":
            continue
        before = significant[i - 1] if i else None
        starts_statement = (before is None or before.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
                            or (before.type == tokenize.OP and before.string in (";", ":")))
        after = significant[i + 1] if i + 1 < len(significant) else None
        if not starts_statement or after is None:
            continue
        if after.type == tokenize.OP and after.string in ("(", "=", ".", ",", ")", "[", "+="):
            continue  # print(...) already (valid in both), or print used as a name
        depth, j = 0, i + 1
        while j < len(significant):
            t = significant[j]
            if t.type == tokenize.OP and t.string in "([{":
                depth += 1
            elif t.type == tokenize.OP and t.string in ")]}":
                depth -= 1
            elif t.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (
                    depth == 0 and t.type == tokenize.OP and t.string == ";"):
                break
            j += 1
        found.append((significant, i, j))
    return found


def modernize_python2(source, filename="<release>"):
    """`source` with Python 2's print statements made calls (`print x, y` -> `print(x, y)`,
    a trailing comma -> `end=" "`, `print >>f, x` -> `print(x, file=f)`) and `xrange` ->
    `range`; returns (text, {"print": count, "xrange": count})."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as err:
        raise ReleaseError(f"--release: cannot read {filename} as Python source ({err})") from None
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))

    def at(position):
        row, col = position
        return offsets[row - 1] + col

    edits = []  # (start, end, replacement) in character offsets of `source`
    statements = _print_statements(tokens)
    for significant, i, j in statements:
        name, body = significant[i], significant[i + 1:j]
        keywords = []
        open_end = at(body[0].start) if body else at(name.end)  # "(" replaces the space after print
        if body and body[0].type == tokenize.OP and body[0].string == ">>":  # print >>stream[, values]
            comma = next((k for k, t in enumerate(body) if t.type == tokenize.OP and t.string == ","), len(body))
            keywords.append("file=" + source[at(body[1].start):at(body[comma - 1].end)])
            rest = body[comma + 1:]
            open_end = at(rest[0].start) if rest else at(body[-1].end)
            body = rest
        if body and body[-1].type == tokenize.OP and body[-1].string == ",":  # no newline (softspace)
            keywords.insert(0, 'end=" "')
            edits.append((at(body[-1].start), at(body[-1].end), ""))
            body = body[:-1]
        close_at = at(body[-1].end) if body else open_end
        separator = ", " if body and keywords else ""
        edits.append((at(name.end), open_end, "("))
        edits.append((close_at, close_at, separator + ", ".join(keywords) + ")"))
    xranges = 0
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.string == "xrange":
            edits.append((at(tok.start), at(tok.end), "range"))
            xranges += 1
    text = source
    # Right to left, so earlier offsets stay valid; at one offset the later-listed insertion first.
    for _, (start, end, replacement) in sorted(enumerate(edits), key=lambda e: (e[1][0], e[1][1], e[0]),
                                               reverse=True):
        text = text[:start] + replacement + text[end:]
    return text, {"print": len(statements), "xrange": xranges}


def patch_source(source, relpath):
    """The release file `relpath` (e.g. "models/memory.py") as Python 3 / tf.compat.v1
    source, and the names of the shims applied to it. Raises ReleaseError when a required
    rewrite finds nothing to rewrite (another version of the release)."""
    relpath = relpath.replace(os.sep, "/")
    applied = []
    text = source
    for rule in REWRITES:
        if rule.files and relpath not in rule.files:
            continue
        text, count = re.subn(rule.pattern, rule.replacement, text, flags=re.MULTILINE)
        if count:
            applied.append(rule.name)
        elif rule.required:
            raise ReleaseError(f"--release: {relpath} has no {rule.pattern.replace(chr(92), '')!r} to patch; "
                               f"not the release this tool knows ({RELEASE_URL} @ {RELEASE_COMMIT[:7]})")
    text, counts = modernize_python2(text, relpath)
    applied += [f"python 3 {what}" for what, n in counts.items() if n]
    return text, applied


# ------------------------------------------------- run-time stand-ins for tf.contrib
class Categorical:
    """tf.contrib.distributions.Categorical as far as the release uses it:
    `Categorical(probs=p).sample(n)`, an [n] int32 tensor of slot indices drawn from p, by
    `tf.random.categorical` on log p (slots of probability 0 get -inf and are never drawn)."""

    def __init__(self, probs=None, logits=None):
        import tensorflow.compat.v1 as tf

        if (probs is None) == (logits is None):
            raise ValueError("Categorical needs exactly one of probs and logits")
        self.logits = tf.math.log(probs) if logits is None else tf.convert_to_tensor(logits)

    def sample(self, n, seed=None):
        import tensorflow.compat.v1 as tf

        draws = tf.random.categorical(tf.expand_dims(self.logits, 0), n, dtype=tf.int32, seed=seed)
        return tf.reshape(draws, [n])


def _maybe_download(filename, work_directory, source_url=None):
    """contrib's base.maybe_download, local only: the path of `filename` in `work_directory`."""
    path = os.path.join(work_directory, filename)
    if not os.path.isfile(path):
        raise ReleaseError(f"--data_path: the release's loader wants {path}; this tool does not download "
                           f"({source_url or 'no URL'})")
    return path


learn_base = types.SimpleNamespace(
    Datasets=collections.namedtuple("Datasets", ["train", "validation", "test"]),
    maybe_download=_maybe_download,
)
_SHIMS = types.SimpleNamespace(Categorical=Categorical, learn_base=learn_base)


def require_extra():
    """Imports the release extra's packages (tf_slim, tf_keras); a missing one is a
    ReleaseError naming the extra."""
    for name in ("tf_slim", "tf_keras"):
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing = getattr(err, "name", None) or name
            raise ReleaseError(f"--release: running the authors' release needs the optional extra "
                               f"'{EXTRA}' ({missing} is missing): {INSTALL_HINT}") from None


def tf_slim_runtime_shims():
    """What tf_slim 1.1 (2020) needs of TensorFlow 2.21, as process-wide aliases (set by
    train_release only): `tensorflow.python.framework.ops.Tensor` / `.IndexedSlices`, which
    TensorFlow moved out of that module, and `tf_keras.legacy_tf_layers.normalization` (the
    tf.compat.v1 batch-norm layer tf_slim builds), which tf_keras 2.21 ships as
    `tf_keras.src.legacy_tf_layers.normalization`. Returns the names of the aliases set."""
    import tensorflow as tf
    from tensorflow.python.framework import ops as framework_ops

    applied = []
    for name in ("Tensor", "IndexedSlices"):
        if not hasattr(framework_ops, name):
            setattr(framework_ops, name, getattr(tf, name))
            applied.append(f"tensorflow.python.framework.ops.{name}")
    try:
        importlib.import_module("tf_keras.legacy_tf_layers.normalization")
    except ImportError:
        sys.modules["tf_keras.legacy_tf_layers"] = importlib.import_module("tf_keras.src.legacy_tf_layers")
        sys.modules["tf_keras.legacy_tf_layers.normalization"] = importlib.import_module(
            "tf_keras.src.legacy_tf_layers.normalization")
        applied.append("tf_keras.legacy_tf_layers")
    return applied


# ----------------------------------------------------------------- the import hook
def check_checkout(path):
    """The absolute path of a checkout of the release, or ReleaseError (one line)."""
    if not path:
        raise ReleaseError(f"--release: give the path of your checkout of the release (git clone {RELEASE_URL})")
    if not os.path.isdir(path):
        raise ReleaseError(f"--release: {path} does not exist or is not a folder "
                           f"(git clone {RELEASE_URL})")
    missing = [f for f in MARKER_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise ReleaseError(f"--release: {path} is not a checkout of {RELEASE_URL} (no {', '.join(missing[:3])}"
                           f"{' ...' if len(missing) > 3 else ''})")
    return os.path.abspath(path)


class ReleaseImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the modules of a release checkout (its top-level .py files and packages)
    with :func:`patch_source` applied in memory. Use as a context manager: on exit the
    hook is removed and the modules it loaded leave sys.modules."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.top_level = set()
        for entry in os.listdir(self.root):
            full = os.path.join(self.root, entry)
            if entry.endswith(".py"):
                self.top_level.add(entry[:-3])
            elif os.path.isfile(os.path.join(full, "__init__.py")):
                self.top_level.add(entry)
        self.loaded = []
        self.applied = {}  # relpath -> shim names

    def __enter__(self):
        clashes = [n for n in sys.modules if n.split(".")[0] in self.top_level]
        if clashes:
            raise ReleaseError(f"--release: modules named like the release's are already imported "
                               f"({', '.join(sorted(clashes)[:3])}); run the release in a fresh process")
        sys.meta_path.insert(0, self)
        return self

    def __exit__(self, *exc):
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for name in self.loaded:
            sys.modules.pop(name, None)
        return False

    def _path(self, fullname):
        parts = fullname.split(".")
        if parts[0] not in self.top_level:
            return None, False
        base = os.path.join(self.root, *parts)
        if os.path.isfile(os.path.join(base, "__init__.py")):
            return os.path.join(base, "__init__.py"), True
        if os.path.isfile(base + ".py"):
            return base + ".py", False
        return None, False

    def find_spec(self, fullname, path=None, target=None):
        filename, package = self._path(fullname)
        if filename is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, filename, loader=self,
            submodule_search_locations=[os.path.dirname(filename)] if package else None)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        filename = module.__spec__.origin
        relpath = os.path.relpath(filename, self.root).replace(os.sep, "/")
        with open(filename, encoding="utf-8", errors="replace") as f:
            text, applied = patch_source(f.read(), relpath)
        self.applied[relpath] = applied
        self.loaded.append(module.__name__)
        module.__dict__["_release_shims"] = _SHIMS
        if "tf_slim" in text:
            try:
                module.__dict__["tf_slim"] = importlib.import_module("tf_slim")
            except ImportError:
                require_extra()
                raise
        exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102 - the user's own checkout


# ------------------------------------------------------------------------ the flags
_DEFINE = re.compile(r"^DEFINE_(integer|string|boolean|bool|float)$")


def release_flag_defaults(root):
    """{name: (kind, default)} of the flags run.py defines, read from its source (never
    imported). `exp` is a string flag with the integer default 0: read as "0"."""
    path = os.path.join(root, "run.py")
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError) as err:
        raise ReleaseError(f"--release: cannot read {path} ({err})") from None
    defaults = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        match = _DEFINE.match(node.func.attr)
        if not match or len(node.args) < 2:
            continue
        try:
            name, default = ast.literal_eval(node.args[0]), ast.literal_eval(node.args[1])
        except ValueError:
            continue
        kind = "boolean" if match.group(1) == "bool" else match.group(1)
        if kind == "string" and default is not None:
            default = str(default)  # run.py: DEFINE_string("exp", 0, ...)
        defaults[name] = (kind, default)
    if "dataset" not in defaults or "epoch" not in defaults:
        raise ReleaseError(f"--release: {path} defines no dataset / epoch flags; not the release's run.py")
    return defaults


def _typed(kind, text, flag, name):
    try:
        if kind == "integer":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes"):
                return True
            if lowered in ("0", "false", "no"):
                return False
            raise ValueError(text)
    except ValueError:
        raise ReleaseError(f"{flag}: {name}={text} is not a valid {kind}") from None
    return text


def parse_assignments(items, flag):
    """["name=value", ...] -> {name: "value"}; ReleaseError on a malformed item."""
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ReleaseError(f"{flag}: expected name=value, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def release_flags(defaults, overrides, epochs):
    """run.py's flags as a namespace (what its Config reads): the defaults, the user's
    overrides ({name: text}, typed like the flag) and `epoch` = `epochs`."""
    values = {name: default for name, (kind, default) in defaults.items()}
    for name, text in overrides.items():
        if name not in defaults:
            raise ReleaseError(f"--release_flags: run.py has no flag {name!r} (it has {', '.join(sorted(defaults))})")
        if name == "epoch":
            raise ReleaseError("--release_flags: give the number of epochs with --epochs")
        values[name] = _typed(defaults[name][0], text, "--release_flags", name)
    if values.get("dataset") != DATASET:
        raise ReleaseError(f"--release_flags: dataset={values.get('dataset')}: this tool feeds the release "
                           f"Fashion-MNIST only (dataset={DATASET})")
    if values.get("model", "MemoryGAN") != "MemoryGAN" or not values.get("is_train", True):
        raise ReleaseError("--release_flags: this tool trains the release's MemoryGAN (model=MemoryGAN, is_train=true)")
    if values.get("load_cp_dir"):
        raise ReleaseError("--release_flags: load_cp_dir: this tool trains from scratch")
    values["epoch"] = epochs
    return types.SimpleNamespace(**values)


def apply_config_overrides(config, overrides):
    """Sets the release Config's attributes (e.g. mem_size=1024) from {name: text}, typed
    like the attribute they replace; returns {name: value} applied."""
    applied = {}
    for name, text in overrides.items():
        if not hasattr(config, name) or callable(getattr(config, name)):
            known = sorted(k for k, v in vars(config).items() if isinstance(v, (int, float, str)))
            raise ReleaseError(f"--release_config: the release's Config has no setting {name!r} "
                               f"(it has {', '.join(known)})")
        current = getattr(config, name)
        kind = ("boolean" if isinstance(current, bool) else "integer" if isinstance(current, int)
                else "float" if isinstance(current, float) else "string")
        applied[name] = _typed(kind, text, "--release_config", name)
        setattr(config, name, applied[name])
    return applied


# ------------------------------------------------------------------------- the data
def write_idx(path, array):
    """A gzipped IDX file of a uint8 array (images [n, H, W] or labels [n]), the format of
    the release's loader (magic 2051 for images, 2049 for labels)."""
    array = np.ascontiguousarray(array, np.uint8)
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.tobytes())


IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_folder_from_npz(npz_path, folder):
    """Writes the four IDX files the release's fashion.py reads from a keras.datasets
    .npz (x_train, y_train, x_test, y_test, 28x28 uint8) into `folder`."""
    try:
        with np.load(npz_path) as arrays:
            parts = [arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except KeyError as err:
        raise ReleaseError(f"--data_path: {npz_path} lacks {err}; expected the keras.datasets layout "
                           "(x_train, y_train, x_test, y_test)") from None
    except (OSError, ValueError, EOFError) as err:
        raise ReleaseError(f"--data_path: cannot read {npz_path} as .npz ({err})") from None
    for k in (0, 2):
        images = parts[k]
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.shape[1:] != (28, 28):
            raise ReleaseError(f"--data_path: {npz_path} holds {images.shape[1:]} images; the release's "
                               "Fashion-MNIST model takes 28x28")
        parts[k] = images
    for name, array in zip(IDX_FILES, parts):
        write_idx(os.path.join(folder, name), array)
    return folder


# ----------------------------------------------------------------- training the release
@dataclasses.dataclass
class RunOptions:
    release: str  # the user's checkout of the release
    out: str  # the folder written
    data_path: str  # keras.datasets .npz, or a folder with the four IDX .gz files
    epochs: int = 3
    seed: int = 0
    steps: int = 0  # stop after this many D+G iterations (0: the full epochs); a smoke test
    num_samples: int = 64000  # generated images written per epoch (the paper scores 64,000)
    flags: dict = dataclasses.field(default_factory=dict)  # run.py flag overrides, {name: text}
    config: dict = dataclasses.field(default_factory=dict)  # Config overrides, {name: text}


def release_commit(root):
    """The checkout's HEAD commit, or None where it is not a git work tree."""
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def _jsonable(config):
    return {k: v for k, v in vars(config).items() if isinstance(v, (bool, int, float, str, list, tuple))}


def _to_uint8(images):
    return np.round(np.clip(np.asarray(images, np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def validate_options(options):
    """ReleaseError for option values no run can use (checked before TensorFlow loads)."""
    if options.epochs < 1:
        raise ReleaseError(f"--epochs must be at least 1, got {options.epochs}")
    if options.steps < 0:
        raise ReleaseError(f"--steps must be 0 (the full epochs) or positive, got {options.steps}")
    if options.num_samples < 0:
        raise ReleaseError(f"--num_samples must be 0 or positive, got {options.num_samples}")
    if not options.out:
        raise ReleaseError("--out: give the folder the run writes")
    if os.path.exists(os.path.join(options.out, RECORD_NAME)):
        raise ReleaseError(f"--out: {options.out} already holds a release run ({RECORD_NAME}); give a new folder")
    if os.path.exists(options.out) and not os.path.isdir(options.out):
        raise ReleaseError(f"--out: {options.out} is a file; give a folder")
    if not options.data_path:
        raise ReleaseError("--data_path: no local Fashion-MNIST found; give the keras.datasets .npz "
                           "(x_train, y_train, x_test, y_test) or a folder of its four IDX .gz files")
    if os.path.isdir(options.data_path):
        missing = [f for f in IDX_FILES if not os.path.isfile(os.path.join(options.data_path, f))]
        if missing:
            raise ReleaseError(f"--data_path: folder {options.data_path} lacks {', '.join(missing)}")
    elif not (os.path.isfile(options.data_path) and options.data_path.endswith(".npz")):
        raise ReleaseError(f"--data_path: {options.data_path} is neither an .npz nor a folder of IDX files")


PROGRESS_EVERY = 100  # train_release says how far it is every this many steps


def train_release(options, log=print):
    """Trains the release's MemoryGAN from the checkout `options.release` and writes
    `options.out`: memory/step_<step>.npz (keys, values, histogram, ages) and
    samples/step_<step>.npz (`images`, uint8 [n, 28, 28, 1]) after every epoch (and after
    the last step of a `steps`-limited run), and release_run.json. Returns the record.

    Switches TensorFlow to graph mode (`disable_v2_behavior`) for the whole process: call
    it from a process of its own (tools/release_reference.py)."""
    validate_options(options)
    root = check_checkout(options.release)
    defaults = release_flag_defaults(root)
    flags = release_flags(defaults, options.flags, options.epochs)
    require_extra()
    import tensorflow as tf2
    import tensorflow.compat.v1 as tf

    from memorygan_tf import evaluation  # noqa: F401 - fail before the long run if it cannot load

    tf.disable_v2_behavior()
    aliases = tf_slim_runtime_shims()
    os.makedirs(os.path.join(options.out, MEMORY_DIR), exist_ok=True)
    os.makedirs(os.path.join(options.out, SAMPLES_DIR), exist_ok=True)
    graph = tf.Graph()
    # The release builds tensors as its modules load (memory.py's default argument
    # update_memory=tf.constant(True)): they are imported into the graph that is trained.
    with graph.as_default(), ReleaseImporter(root) as importer:
        config_module = importlib.import_module("models.config")
        memory_gan = importlib.import_module("models.memory_gan")
        release_train = importlib.import_module("models.train")
        fashion = importlib.import_module("fashion")
        config = config_module.Config(flags)
        overridden = apply_config_overrides(config, options.config)

        with tempfile.TemporaryDirectory(prefix="release_idx_") as scratch:
            folder = (options.data_path if os.path.isdir(options.data_path)
                      else idx_folder_from_npz(options.data_path, scratch))
            # models/train.py's load_dataset, with the folder given instead of ./dataset/fashion
            dataset = fashion.read_data_sets(folder, dtype=tf.uint8, reshape=False, validation_size=0).train

        tf.set_random_seed(options.seed)
        np.random.seed(options.seed)
        random.seed(options.seed)
        model = memory_gan.MemoryGAN(config)
        n, batch = dataset.num_examples, model.batch_size
        steps_per_epoch = int(n / batch)  # models/train.py
        max_iter = steps_per_epoch * config.epoch
        global_step = tf.Variable(0, trainable=False)
        learning_rate = (tf.train.polynomial_decay(model.learning_rate, global_step, max_iter, 0.)
                         if model.lr_decay else None)
        d_optim, g_optim = model.build_model(True, learning_rate, global_step)
        memory_arrays = model.mem.get()  # keys, values, ages, histogram
        session_config = tf.ConfigProto(allow_soft_placement=True)
        with tf.Session(graph=graph, config=session_config) as sess:
            sess.run(tf.global_variables_initializer())
            record = dict(
                release=dict(path=root, url=RELEASE_URL, commit=release_commit(root)),
                shims={k: v for k, v in sorted(importer.applied.items()) if v},
                runtime_aliases=aliases,
                flags=vars(flags), config_overrides=overridden, config=_jsonable(config),
                seed=options.seed, epochs=options.epochs, steps_limit=options.steps,
                steps_per_epoch=steps_per_epoch, batch_size=batch, train_examples=int(n),
                data_path=os.path.abspath(options.data_path), num_samples=options.num_samples,
                versions=dict(tensorflow=tf2.__version__, tf_slim=_version("tf_slim"),
                              tf_keras=_version("tf_keras"), python=sys.version.split()[0]),
                step_order="per iteration: next_batch, D step (memory written with the real and the "
                           "fake batch), G step (memory written with a fresh fake batch), z ~ U(-1, 1)",
                dumps=[])
            total = min(options.steps, max_iter) if options.steps else max_iter
            log(f"release MemoryGAN: {n} images, batch {batch}, {steps_per_epoch} steps an epoch, "
                f"{total} steps, seed {options.seed}")
            seconds, timed = 0.0, 0
            started = time.perf_counter()
            for step in range(1, total + 1):
                start = time.perf_counter()
                image, label = dataset.next_batch(batch)
                _, d_real, d_fake = sess.run(
                    [d_optim, model.d_real, model.d_fake],
                    feed_dict={model.image: image, model.label: label, model.z: release_train.get_z(model)})
                sess.run([g_optim], feed_dict={model.image: image, model.label: label,
                                               model.z: release_train.get_z(model)})
                seconds += time.perf_counter() - start
                timed += 1
                if step % PROGRESS_EVERY == 0 and step % steps_per_epoch and step != total:
                    per_step = (time.perf_counter() - started) / step
                    log(f"step {step}/{total} (epoch {step / steps_per_epoch:.2f}), {per_step:.3f} s/step, "
                        f"ETA {(total - step) * per_step / 60:.1f} min")
                if step % steps_per_epoch and step != total:
                    continue
                entry = _dump(sess, model, memory_arrays, release_train, options, step, steps_per_epoch)
                entry.update(seconds_per_step=seconds / timed, d_real=float(d_real), d_fake=float(d_fake))
                seconds, timed = 0.0, 0
                record["dumps"].append(entry)
                record["steps"] = step
                record["seconds_per_step"] = float(np.mean([d["seconds_per_step"] for d in record["dumps"]]))
                _write_json(os.path.join(options.out, RECORD_NAME), record)
                health = entry["health"]
                log(f"epoch {entry['epoch']:.3g} (step {step}): d_real {d_real:.3f} d_fake {d_fake:.3f}, "
                    f"{entry['seconds_per_step']:.3f} s/step, {health['distinct_real_keys']} distinct real "
                    f"keys, {health['effective_slots']:.0f} effective slots, real share "
                    f"{health['real_share']:.2f}")
    return record


# ------------------------------------------------ the release's memory on fixed queries
def probe_queries(iterations, batch=64, key_dim=256, seed=0):
    """Fixed query batches for :func:`probe_release_memory`, float32 [iterations, 3, batch,
    key_dim], unit rows: per iteration the D step's real and generated queries and the G
    step's generated ones. Real queries lie around 10 random unit centres; generated ones
    start off to one side and drift onto the real ones over the iterations, as a
    generator's would."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, key_dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    side = rng.normal(size=key_dim) * 8.0 / np.sqrt(key_dim)

    def draw(noise, shift):
        q = centres[rng.integers(0, 10, batch)] + noise * 4.0 * rng.normal(size=(batch, key_dim)) / np.sqrt(key_dim)
        q = q + shift
        return q / np.linalg.norm(q, axis=1, keepdims=True)

    out = np.zeros((iterations, 3, batch, key_dim), np.float32)
    for t in range(iterations):
        shift = max(0.0, 1.0 - t / iterations) * side
        out[t] = draw(0.5, 0.0), draw(0.8, shift), draw(0.8, shift)
    return out


def probe_release_memory(root, queries, memory_size=4096, choose_k=128):
    """Runs the release's own memory (models/memory.py's BaseMemory, shims applied in
    memory) on fixed `queries` (:func:`probe_queries`) as its training does: the D step's
    real and generated query ops, each carrying its write, in one sess.run, then the G
    step's. Returns the number of real-labelled slots after every iteration ([iterations]
    int). Graph mode for the whole process, as :func:`train_release`: call it from a
    process of its own. With the same queries, two calls can differ: the two writes of a
    D step are independent ops whose order TensorFlow does not fix."""
    root = check_checkout(root)
    require_extra()
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    tf_slim_runtime_shims()
    iterations, _, batch, key_dim = queries.shape
    graph = tf.Graph()
    with graph.as_default(), ReleaseImporter(root):
        memory = importlib.import_module("models.memory").BaseMemory(key_dim, memory_size, choose_k=choose_k)
        fed = [tf.placeholder(tf.float32, [batch, key_dim]) for _ in range(3)]
        reads = [memory.query(q, tf.ones(batch) if i == 0 else tf.zeros(batch)) for i, q in enumerate(fed)]
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            real = []
            for t in range(iterations):
                sess.run(reads[:2], {fed[0]: queries[t, 0], fed[1]: queries[t, 1]})
                sess.run(reads[2], {fed[2]: queries[t, 2]})
                real.append(int(np.sum(sess.run(memory.mem_vals) == 1.0)))
    return np.array(real)


# The release flags' memory options (flags/fashion_mnist_release.flags), less the D step's
# write order: the probe and the one-step comparison keep --d_write_order's default,
# real_first, the outcome of the release's first D step in 15 of 20 runs; the flagfile
# trains generated_first, whose three seeds scored level with the release.
RELEASE_MEMORY_OPTIONS = dict(kappa=1.0, update_rule="release", batch_write="last", fill_empty=False,
                              writes_per_step=3)
MEMORY_FIELDS = ("keys", "values", "ages", "histogram")  # the order of the release's BaseMemory.get()


def release_flags_config(batch_size, **overrides):
    """This project's ExperimentConfig for Fashion-MNIST under the release flags' memory
    options (RELEASE_MEMORY_OPTIONS) with model `overrides`, at global batch `batch_size`."""
    from memorygan_tf import configs

    return configs.make_config("fashion_mnist", dict(RELEASE_MEMORY_OPTIONS, **overrides),
                               train_overrides=dict(batch_size=batch_size))


def probe_project_memory(queries, memory_size=4096, choose_k=128):
    """This project's MemoryGAN under the release flags' memory options on the same
    `queries`, written through the model's own D- and G-step write path
    (MemoryGAN.after_discriminator_step and after_generator_step), so the probe follows
    whatever order and ages training uses. Returns the real-labelled slots after every
    iteration; deterministic."""
    import tensorflow as tf

    from memorygan_tf import models

    iterations, _, batch, key_dim = queries.shape
    model = models.build(release_flags_config(batch, memory_size=memory_size, choose_k=choose_k, key_dim=key_dim).model)
    memory = model.memory
    real_labels, fake_labels = tf.ones([batch]), tf.zeros([batch])

    @tf.function
    def iteration(real, fake, generated):
        plans = memory.plan_update(real, real_labels), memory.plan_update(fake, fake_labels)
        token = model.after_discriminator_step(plans, ())
        model.after_generator_step(memory.plan_update(generated, fake_labels), token)
        return tf.reduce_sum(tf.cast(tf.equal(memory.values, 1.0), tf.int32))

    return np.array([int(iteration(*queries[t])) for t in range(iterations)])


# ------------------------------------------------------- one step, both codes
STEP_BATCH = 64  # models/config.py's Fashion-MNIST batch
STEP_QUANTITIES = ("d_real", "d_fake", "d_gan_loss", "d_info", "g_gan_loss", "g_info")


def step_inputs(images, memory, seed=0, z_dim=2):
    """The fixed inputs of :func:`release_step` and :func:`project_step`: a real batch
    (`images`: uint8 [64, 28, 28, 1]), the memory before the step (`memory`: keys, values,
    ages, histogram), the D and the G step's noise z ~ U(-1, 1) and slots c ~ h v (the
    release's sample_histogram). A dict of arrays (np.savez writes it)."""
    rng = np.random.default_rng(seed)
    keys, values, ages, histogram = (np.asarray(a, np.float32) for a in memory)
    real = histogram * values
    if real.sum() <= 0:
        raise ValueError("the memory has no real-labelled slot with histogram mass to sample")
    prior = real / real.sum()
    return dict(images=np.asarray(images, np.uint8), keys=keys, values=values, ages=ages, histogram=histogram,
                z_d=rng.uniform(-1, 1, (STEP_BATCH, z_dim)).astype(np.float32),
                z_g=rng.uniform(-1, 1, (STEP_BATCH, z_dim)).astype(np.float32),
                slots_d=rng.choice(len(prior), STEP_BATCH, p=prior).astype(np.int32),
                slots_g=rng.choice(len(prior), STEP_BATCH, p=prior).astype(np.int32))


def initial_release_memory(size=4096, key_dim=256):
    """The release's memory before training (models/memory.py): zero keys, the first half
    labelled real, ages 0, every histogram entry 1e-5."""
    values = np.zeros(size, np.float32)
    values[: size // 2] = 1.0
    return (np.zeros((size, key_dim), np.float32), values, np.zeros(size, np.float32),
            np.full(size, 1e-5, np.float32))


@contextlib.contextmanager
def _release_graph(root, inputs, seed=0):
    """The release's MemoryGAN training graph at its Fashion-MNIST defaults (shims applied
    in memory, graph seed `seed`), built and entered: yields (tf, graph, config, model,
    memory, set_memory), `memory` its (keys, values, ages, histogram) variables and
    `set_memory` the feed that sets them to `inputs`' (:func:`step_inputs`) as
    (op, feed_dict). Switches the process to graph mode."""
    root = check_checkout(root)
    require_extra()
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    tf_slim_runtime_shims()
    flags = release_flags(release_flag_defaults(root), {}, 1)
    graph = tf.Graph()
    with graph.as_default(), ReleaseImporter(root):
        config = importlib.import_module("models.config").Config(flags)
        tf.set_random_seed(seed)
        model = importlib.import_module("models.memory_gan").MemoryGAN(config)
        model.build_model(True, None, tf.Variable(0, trainable=False))
        memory = model.mem.get()  # keys, values, ages, histogram
        fed = [tf.placeholder(tf.float32, v.shape) for v in memory]
        set_memory = (model.mem.set(*fed), {p: inputs[k] for p, k in zip(fed, MEMORY_FIELDS)})
        yield tf, graph, config, model, memory, set_memory


def _step_feed(model, inputs, step):
    """The release graph's feed for the D ("d") or G ("g") step of `inputs`: the batch, the
    step's noise and its sampled keys in place of sample_histogram's."""
    return {model.image: inputs["images"].astype(np.float32), model.z: inputs["z_" + step],
            model.q_sample: inputs["keys"][inputs["slots_" + step]]}


def release_step(root, inputs, seed=0):
    """One D step's and one G step's quantities of the release's own graph (models/
    memory_gan.py at its Fashion-MNIST defaults, shims applied in memory) from `inputs`
    (:func:`step_inputs`), each step from the memory in `inputs`, the sampled keys fed in
    place of its sample_histogram: the D step's D(x) and D(G) means, its GAN loss and
    information term (MSE), the gradients of its loss (with lamb times the term) for
    every D variable; the G step's the same for the G variables; the memory after
    either step's writes; the initial weights (its initialisers, graph seed `seed`) by
    variable name. Graph mode for the whole process: call it from a process of its own."""
    with _release_graph(root, inputs, seed) as (tf, graph, config, model, memory, set_memory):
        d_loss = graph.get_operation_by_name("d_loss").inputs[1]  # the summaries' tensors
        g_loss = graph.get_operation_by_name("g_loss").inputs[1]
        info = tf.get_collection(tf.GraphKeys.LOSSES)[0]  # tf.losses.mean_squared_error(q_f, q_sample)
        d_grads = tf.gradients(d_loss, model.d_vars)
        g_grads = tf.gradients(g_loss, model.g_vars)
        out = {}
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            for v, value in zip(model.d_vars + model.g_vars, sess.run(model.d_vars + model.g_vars)):
                out["weight/" + v.op.name] = value
            for step, loss, grads, variables in (("d", d_loss, d_grads, model.d_vars),
                                                 ("g", g_loss, g_grads, model.g_vars)):
                sess.run(*set_memory)
                feed = _step_feed(model, inputs, step)
                fetches = dict(loss=loss, info=info, grads=grads)
                if step == "d":  # (d_real would run the real batch's query, and its write, in the G step)
                    fetches.update(d_real=model.d_real, d_fake=model.d_fake)
                fetched = sess.run(fetches, feed)
                out[f"{step}_info"] = fetched["info"]  # both losses add lamb times the term
                out[f"{step}_gan_loss"] = fetched["loss"] - config.lamb * fetched["info"]
                if step == "d":
                    out["d_real"], out["d_fake"] = fetched["d_real"], fetched["d_fake"]
                for v, grad in zip(variables, fetched["grads"]):
                    out["grad/" + v.op.name] = grad
                for name, value in zip(MEMORY_FIELDS, sess.run(memory)):
                    out[f"memory_after_{step}/{name}"] = value
    return out


def first_step_overlap(memory_after, batch=STEP_BATCH):
    """Which write each field of the slots both D-step writes write comes from, after the
    first D step from the initial memory: there every age is 0, so the generated batch's
    resets take the first `batch` slots and the real batch's EM rows (its conditional top-k
    among equal keys) the first 2 x `batch`, the later ones all holding the last real
    sample's key. Returns "keys/values/histogram" as e.g. "fake/fake/fake": each field from
    the generated write (fake), the real one (real) or both (mixed)."""
    keys, values, histogram = (np.asarray(memory_after[f]) for f in ("keys", "values", "histogram"))
    both = slice(0, batch)
    real_key = keys[batch + 1]  # written by the real batch only
    match = np.isclose(keys[both], real_key, atol=1e-5).all(axis=1)

    def winner(real):
        return "real" if real.all() else ("fake" if not real.any() else "mixed")

    return "/".join((winner(match), winner(values[both] > 0.5), winner(histogram[both] > 0.5)))


def release_first_step_race(root, inputs, repeats, seed=0):
    """The release's D step `repeats` times from the same weights, batch and initial memory
    (`inputs` of :func:`step_inputs` with :func:`initial_release_memory`), in its own training
    graph: {first_step_overlap outcome: count}. Its two writes are independent ops of one
    sess.run, so the outcome is the scheduler's. Graph mode: call it from a process of its own."""
    with _release_graph(root, inputs, seed) as (tf, graph, _, model, memory, set_memory):
        feed = _step_feed(model, inputs, "d")
        outcomes = collections.Counter()
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(repeats):
                sess.run(*set_memory)
                sess.run([model.d_real, model.d_fake], feed)  # the D step's reads and both writes
                after = dict(zip(MEMORY_FIELDS, sess.run(memory)))
                outcomes[first_step_overlap(after)] += 1
    return dict(outcomes)


def _mapped(release_names, project_variables, prefix):
    """Pairs the release's `prefix` variables (slim, in creation order) with the project
    network's trainable variables in layer order, leaving out batch norm's scale (slim's
    batch norm has none; it stays 1). Raises ValueError when the shapes do not line up."""
    names = [n for n in release_names if n.startswith(prefix)]
    ours = [v for v in project_variables if not v.path.endswith("gamma")]
    if len(names) != len(ours):
        raise ValueError(f"{prefix}: {len(names)} release variables against {len(ours)} here")
    return list(zip(names, ours))


def project_step(inputs, release_out, bn_epsilon=None, mi_form="release"):
    """The same quantities as :func:`release_step` from this project's MemoryGAN under the
    release flags' memory options and loss (--mi_form as given), its weights copied from
    the release's initial weights in `release_out`, its batch norms' scale 1, the same
    inputs, each step through the training code (discriminator_gradients,
    generator_gradients, after_discriminator_step, after_generator_step).
    `bn_epsilon`: --bn_epsilon (None: the default; slim's is 1e-3). Returns (quantities,
    pairs of (release variable name, project variable))."""
    import tensorflow as tf

    from memorygan_tf import models

    model = models.build(release_flags_config(STEP_BATCH, loss="jsd", mi_form=mi_form, bn_epsilon=bn_epsilon).model)
    names = [k[len("weight/"):] for k in release_out if k.startswith("weight/")]  # creation order
    pairs = (_mapped(names, model.encoder.trainable_variables, "d_")
             + _mapped(names, model.generator.trainable_variables, "g_"))
    for name, variable in pairs:
        value = release_out["weight/" + name]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{name} {value.shape} against {variable.path} {tuple(variable.shape)}")
        variable.assign(value)
    state = {name: getattr(model.memory, name) for name in MEMORY_FIELDS}
    by_variable = {id(v): name for name, v in pairs}
    out = {}

    def start():  # the memory of `inputs`
        for name, variable in state.items():
            variable.assign(inputs[name])

    def keep(variables, grads):  # the gradients of the variables mapped to the release's
        for variable, grad in zip(variables, grads):
            if id(variable) in by_variable:
                out["grad/" + by_variable[id(variable)]] = grad.numpy()

    def after(step):  # the memory after the step's writes
        for name, variable in state.items():
            out[f"memory_after_{step}/{name}"] = variable.numpy()

    def latent(step):
        return tf.concat([inputs["z_" + step], tf.gather(inputs["keys"], inputs["slots_" + step])], axis=1)

    real = tf.constant(inputs["images"].astype(np.float32) / 255.0)
    start()
    grads, d_loss, d_real, d_fake, plans = model.discriminator_gradients(real, latent("d"))
    fake = model.generator(latent("d"), training=True)
    out["d_info"] = float(model.discriminate_pair(real, fake, latent("d")).info)
    out.update(d_gan_loss=float(d_loss), d_real=float(d_real), d_fake=float(d_fake))
    keep(model.discriminator_variables, grads)
    model.after_discriminator_step(plans, ())
    after("d")
    start()
    grads, g_loss, info, _, plan = model.generator_gradients(latent("g"))
    out.update(g_gan_loss=float(g_loss), g_info=float(info))
    keep(model.generator.trainable_variables, grads)
    model.after_generator_step(plan, ())
    after("g")
    return out, pairs


def compare_step(release_out, project_out):
    """Rows (quantity, release, here, relative difference) of the scalars, and per
    gradient the relative L2 difference ||here - release|| / ||release|| and the cosine;
    per step the memory slots whose key, label, age or histogram differ."""
    rows = []
    for name in STEP_QUANTITIES:
        a, b = float(release_out[name]), float(project_out[name])
        rows.append((name, a, b, abs(b - a) / max(abs(a), 1e-12)))
    for name in [k for k in release_out if k.startswith("grad/")]:
        a, b = np.ravel(release_out[name]), np.ravel(project_out[name])
        norm = np.linalg.norm(a)
        cosine = float(a @ b / max(norm * np.linalg.norm(b), 1e-30))
        rows.append((name, float(norm), float(np.linalg.norm(b)), float(np.linalg.norm(b - a) / max(norm, 1e-30)),
                     cosine))
    for step in ("d", "g"):
        differ = np.zeros(len(release_out[f"memory_after_{step}/values"]), bool)
        for field in MEMORY_FIELDS:
            a, b = release_out[f"memory_after_{step}/{field}"], project_out[f"memory_after_{step}/{field}"]
            close = np.isclose(a, b, rtol=1e-3, atol=1e-4)
            differ |= ~close.reshape(len(differ), -1).all(axis=1)
        rows.append((f"memory after the {step.upper()} step: slots that differ", int(differ.sum())))
    return rows


def step_text(rows):
    """The rows of :func:`compare_step` as a Markdown table."""
    lines = ["| quantity | release | here | relative difference | cosine |", "|---|---|---|---|---|"]
    for row in rows:
        cells = [f"{x:.4g}" if isinstance(x, float) else str(x) for x in row]
        lines.append("| " + " | ".join(cells + [""] * (5 - len(cells))) + " |")
    return "\n".join(lines)


def _version(name):
    try:
        from importlib import metadata

        return metadata.version(name.replace("_", "-"))
    except Exception:  # noqa: BLE001 - a version is informative only
        return None


def _write_json(path, value):
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=2, default=str)
    os.replace(path + ".tmp", path)


def _dump(sess, model, memory_arrays, release_train, options, step, steps_per_epoch):
    """Writes the memory and samples after `step`; returns the record's entry."""
    keys, values, ages, histogram = sess.run(memory_arrays)
    epoch = step / steps_per_epoch
    name = f"step_{step:08d}.npz"
    memory_path = os.path.join(MEMORY_DIR, name)
    np.savez(os.path.join(options.out, memory_path), keys=keys, values=values, histogram=histogram, ages=ages,
             step=step, epoch=epoch)
    entry = dict(step=step, epoch=epoch, memory=memory_path,
                 health=memory_summary(keys, values, histogram))
    if options.num_samples:
        images = []
        for _ in range(-(-options.num_samples // model.batch_size)):
            # models/train.py's _save_samples: the training graph's gen_image for a fresh z
            images.append(sess.run(model.gen_image, feed_dict={model.z: release_train.get_z(model)}))
        samples = _to_uint8(np.concatenate(images)[:options.num_samples])
        samples_path = os.path.join(SAMPLES_DIR, name)
        np.savez_compressed(os.path.join(options.out, samples_path), images=samples)
        entry["samples"] = samples_path
    return entry


# -------------------------------------------------------------------- reading a run
def memory_summary(keys, values, histogram):
    """The project's memory health of a release memory (models/memorygan/report.memory_health: written
    real slots, distinct real keys, mean real cosine, effective slots of the prior h v),
    plus `real_share`, the share of all slots labelled real."""
    from memorygan_tf.models.memorygan import report

    summary = dataclasses.asdict(report.memory_health(keys, values, histogram))
    summary["real_share"] = float(np.mean(np.asarray(values) > 0.5))
    return summary


def read_memory_dump(path, flag="--out"):
    """(keys, values, histogram, ages) of a memory dump (.npz with keys, values,
    histogram and optionally ages); errors name `flag`."""
    try:
        with np.load(path) as arrays:
            missing = [k for k in ("keys", "values", "histogram") if k not in arrays.files]
            if missing:
                raise ReleaseError(f"{flag}: memory dump {path} lacks {', '.join(missing)} "
                                   f"(it has {', '.join(arrays.files) or 'nothing'})")
            keys, values, histogram = (arrays[k] for k in ("keys", "values", "histogram"))
            ages = arrays["ages"] if "ages" in arrays.files else None
    except (OSError, ValueError, EOFError) as err:
        raise ReleaseError(f"{flag}: cannot read memory dump {path} ({err})") from None
    if keys.ndim != 2 or values.shape != (keys.shape[0],) or histogram.shape != (keys.shape[0],):
        raise ReleaseError(f"{flag}: memory dump {path} has keys {keys.shape}, values {values.shape}, "
                           f"histogram {histogram.shape}; expected [N, M], [N], [N]")
    return keys, values, histogram, ages


_STEP_FILE = re.compile(r"^step_(\d+)\.npz$")


def read_run(out):
    """A release run's folder as a list of {step, memory, samples (path or None), health}
    ordered by step, the health recomputed from the memory dumps; plus the record
    (release_run.json, {} where missing). Returns (record, rows)."""
    memory_dir = os.path.join(out, MEMORY_DIR)
    if not os.path.isdir(memory_dir):
        raise ReleaseError(f"--out: {out} is not a release run (no {MEMORY_DIR}/ folder)")
    record = {}
    record_path = os.path.join(out, RECORD_NAME)
    if os.path.isfile(record_path):
        try:
            with open(record_path) as f:
                record = json.load(f)
        except (OSError, ValueError) as err:
            raise ReleaseError(f"--out: {record_path} is unreadable ({err})") from None
    per_step = {d.get("step"): d for d in record.get("dumps", [])}
    rows = []
    for name in sorted(os.listdir(memory_dir)):
        match = _STEP_FILE.match(name)
        if not match:
            continue
        step = int(match.group(1))
        keys, values, histogram, _ = read_memory_dump(os.path.join(memory_dir, name))
        samples = os.path.join(out, SAMPLES_DIR, name)
        entry = per_step.get(step, {})
        rows.append(dict(step=step, epoch=entry.get("epoch"), memory=os.path.join(memory_dir, name),
                         samples=samples if os.path.isfile(samples) else None,
                         seconds_per_step=entry.get("seconds_per_step"),
                         health=memory_summary(keys, values, histogram)))
    if not rows:
        raise ReleaseError(f"--out: {out} holds no memory dumps ({MEMORY_DIR}/step_*.npz)")
    return record, rows


def score_run(rows, classifier_dir, data_path, splits=10):
    """({step: IS, FID, KID, precision, recall} of each row's samples (read_run), the
    classifier's record) under the project's Fashion-MNIST classifier, against the test
    images of `data_path` (evaluation.sample_quality, as tools/evaluate.py scores a project
    run). The classifier is loaded and checked as every scorer loads it
    (evaluation.load_scoring_classifier), its refusals as ReleaseError."""
    from memorygan_tf import configs, data, evaluation

    if not data_path or not str(data_path).endswith(".npz"):
        raise ReleaseError("--data_path: scoring needs the keras.datasets .npz with x_test, y_test")
    try:
        _, _, x_test, _ = data.load_labelled("fashion_mnist", data_path, None, 0)
    except data.DataError as err:
        raise ReleaseError(f"--data_path: {err}") from None
    try:
        classifier, record = evaluation.load_scoring_classifier(classifier_dir, "fashion_mnist")
    except configs.ConfigError as err:
        raise ReleaseError(str(err)) from None
    heads = evaluation.classifier_heads(classifier)
    test_features = evaluation.reference_features(classifier, x_test)
    scores = {}
    for row in rows:
        if not row.get("samples"):
            continue
        with np.load(row["samples"]) as arrays:
            images = arrays["images"].astype(np.float32) / 255.0
        probs, features = evaluation.classify(heads, images)
        result = evaluation.sample_quality(probs, features, test_features, splits)
        result["num_samples"] = int(len(images))
        result["class_histogram"] = np.bincount(probs.argmax(1), minlength=probs.shape[1]).tolist()
        scores[row["step"]] = {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in result.items()}
    return scores, record


def classifier_record(classifier_dir):
    """The record of the classifier in `classifier_dir` as an evaluation stores it: its
    classifier.json with `path`, the absolute path of its classifier.keras ({"path"} alone
    where classifier.json is missing or unreadable). For a scores.json that names only the
    classifier's folder (score_run returns the record it scored with)."""
    record = {}
    try:
        with open(os.path.join(classifier_dir, "classifier.json")) as f:
            record = json.load(f)
    except (OSError, ValueError):
        pass
    return dict(record if isinstance(record, dict) else {},
                path=os.path.abspath(os.path.join(classifier_dir, "classifier.keras")))


# ------------------------------------------------ side by side with the project's runs
# The rows of the side-by-side, in table order: the release (ROOT/release/seed_N, as
# tools/release_queue.sh writes them) and three runs of the project's studies.
SIDE_ROWS = (
    ("release", "the authors' release"),
    ("release_flags_bn", "the project's release flags"),
    ("release_flags_bn_generated_first", "the release flags writing the D step's generated batch first "
                                         "(--d_write_order=generated_first)"),
    ("release_flags_slim", "the release flags writing the generated batch first, with tf.slim's batch norm "
                           "(no scale) and TF1 Adam's epsilon (--nobn_scale --adam_epsilon=1e-8): the flagfile"),
    ("release_flags", "the release flags, earlier code (Keras's batch-norm epsilon, no D-step ages)"),
    ("release_flags_mi", "the earlier release flags with the release's information term (--mi_form=release)"),
    ("memorygan", "the project's default"),
    ("dcgan", "the DCGAN, z 32"),
)
SIDE_RELEASE_FOLDER = "release"
# The release's seeds trained again with the same flags and seed (ROOT/release_repeat/seed_N,
# tools/release_queue.sh): its run-to-run spread, which TensorFlow's op order makes nonzero.
SIDE_RELEASE_REPEAT_FOLDER = "release_repeat"
# The project rows: (the flag naming the study's spec, the study's run).
SIDE_STUDY_RUNS = {"release_flags_bn": ("release_side_spec", "release_flags_bn"),
                   "release_flags_bn_generated_first": ("release_side_spec", "release_flags_bn_generated_first"),
                   "release_flags_slim": ("release_side_spec", "release_flags_slim"),
                   "release_flags": ("release_side_spec", "release_flags"),
                   "release_flags_mi": ("release_side_spec", "release_flags_mi"),
                   "memorygan": ("fair_spec", "memorygan"), "dcgan": ("fair_spec", "dcgan")}
SIDE_SCORES = ("inception_score", "fid", "kid", "precision", "recall")
SIDE_COLUMNS = SIDE_SCORES + ("distinct_real_keys", "effective_slots", "real_share", "seconds_per_step")
SIDE_TITLES = dict(inception_score="IS", fid="FID", kid="KID", precision="precision", recall="recall",
                   distinct_real_keys="distinct real keys", effective_slots="eff. slots",
                   real_share="real share of slots", seconds_per_step="s/step")
# Fixed before the runs: the verdicts at Table 2's budget, where every side is scored with
# the same number of images; A against B on these scores (FID lower, IS higher is better).
SIDE_VERDICT_EPOCHS = (3,)
SIDE_COMPARISONS = (("release_flags_bn", "release", ("fid", "inception_score")),
                    ("release_flags_bn_generated_first", "release", ("fid", "inception_score")),
                    ("release_flags_slim", "release", ("fid", "inception_score")),
                    ("release_flags", "release", ("fid", "inception_score")),
                    ("memorygan", "release", ("fid", "inception_score")),
                    ("dcgan", "release", ("fid",)))
SECONDS_SOURCES = {
    "release": "release_run.json: the mean over the epoch's steps of the time of its D and G steps",
    "project": "the run's TensorBoard log (steps_per_second, every --log_every_steps): 1 / the median over "
               "the epoch's logging intervals, so that an interval holding an epoch end's samples, "
               "checkpoint or the first step's tracing does not count",
}


def _read_json(path, flag):
    """The JSON of `path`, None where it does not exist; ReleaseError naming `flag` if unreadable."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise ReleaseError(f"{flag}: {path} is unreadable ({str(err).splitlines()[0][:120]})") from None


def read_release_seeds(folder, epochs):
    """{seed: {"config", "epochs": {epoch: entry}}} of the release runs folder/seed_N at the
    whole `epochs`: each entry the memory health and seconds per step release_run.json
    records and, once `report --classifier` has written scores.json, the scores, their
    sample count and classifier; "config" is release_run.json less its per-epoch dumps.
    Seeds without a release_run.json (not started) are left out."""
    out = {}
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    for name in names:
        match = re.fullmatch(r"seed_(\d+)", name)
        run = os.path.join(folder, name)
        record = _read_json(os.path.join(run, RECORD_NAME), "--root") if match else None
        if not isinstance(record, dict):
            continue
        scores_path = os.path.join(run, "scores.json")
        scores = _read_json(scores_path, "--root") or {}
        classifier = scores.get("classifier")
        if isinstance(classifier, str):  # a scores.json that names only the classifier's folder
            classifier = classifier_record(classifier)
        scored = {row.get("step"): row.get("scores") for row in scores.get("rows", []) if isinstance(row, dict)}
        steps_per_epoch = record.get("steps_per_epoch") or 0
        entries = {}
        for dump in record.get("dumps", []):
            step = dump.get("step") or 0
            if not steps_per_epoch or step % steps_per_epoch or step // steps_per_epoch not in epochs:
                continue  # a partial epoch (a --steps smoke run) or an epoch not tabled
            health = dump.get("health") or {}
            entry = dict(step=step, source=os.path.join(run, RECORD_NAME), num_samples=None, classifier=None,
                         seconds_per_step=dump.get("seconds_per_step"),
                         **{k: health.get(k) for k in ("distinct_real_keys", "effective_slots", "real_share")})
            if isinstance(scored.get(step), dict):
                entry.update({k: scored[step].get(k) for k in SIDE_SCORES}, source=scores_path,
                             num_samples=scored[step].get("num_samples"), classifier=classifier)
            entries[step // steps_per_epoch] = entry
        out[int(match.group(1))] = dict(config={k: v for k, v in record.items() if k != "dumps"}, epochs=entries)
    return out


def _study_seeds(spec, results, root, run, epochs):
    """read_release_seeds' shape for a study's run, from its evaluations (study.collect's
    `results`) at `epochs` and its config.json."""
    from memorygan_tf import rundir, study

    out = {}
    for seed in spec.seeds:
        logdir = study.run_dir(root, spec, run, seed)
        entries = {}
        for step, result in results.get(run, {}).get(seed, {}).items():
            epoch, partial = divmod(int(step), spec.steps_per_epoch)
            if partial or epoch not in epochs:
                continue
            entries[epoch] = dict(
                step=int(step), source=study.evaluation_path(logdir, step), num_samples=result.get("num_samples"),
                classifier=result.get("classifier"), seconds_per_step=None, real_share=None,
                **{k: result.get(k) for k in SIDE_SCORES + ("distinct_real_keys", "effective_slots")})
        if entries:
            out[seed] = dict(config=_read_json(rundir.RunDir(logdir).config_path, "--root"), logdir=logdir,
                             epochs=entries)
    return out


def _check_one_classifier(scored):
    """The one classifier record behind every (where, record) of `scored`; ReleaseError
    (one line, naming --root) when they differ or one records none."""
    from memorygan_tf import study

    found = {}
    for where, record in scored:
        found.setdefault(study.classifier_identity(record), (where, record))
    if len(found) <= 1:
        return next(iter(found.values()))[1] if found else None
    described = [f"{where} by {study.classifier_label(record) or 'an unrecorded classifier'}"
                 + (f" at {record['path']}" if isinstance(record, dict) and record.get("path") else "")
                 for where, record in found.values()]
    raise ReleaseError(f"--root: the scores were made by {len(found)} classifiers ({'; '.join(described)}); "
                       "score every side with one (--classifier of tools/run_study.py and of "
                       "tools/release_reference.py report)")


def collect_side(root, release_side_spec, fair_spec, *repeat_specs):
    """Everything the side-by-side shows, read from `root` (JSON only, nothing imports
    TensorFlow): {"root", "epochs" (the release side's rounds), "steps_per_epoch",
    "classifier" (the one record every score was made with), "rows": {row: {"label",
    "source", "seeds": {seed: {"config", "epochs": {epoch: entry}}}}}, "repeat": {run: {seed:
    {epoch: entry}}}} with the rows of SIDE_ROWS (a row with no seeds was not run) and the
    repeat studies' scores at the same epochs (one seed's run-to-run spread; each of
    `repeat_specs` trains some rows' seeds again, e.g. the fair study's repeat and the release
    side's own; a run in two of them keeps both's seeds, the later study's where a seed is in
    both) and, under "release", the release's seeds trained again (ROOT/release_repeat, read
    whenever `repeat_specs` are given). ReleaseError (one line) for a spec without the run a row needs, and for scores made
    by different classifiers."""
    from memorygan_tf import study

    root = os.path.abspath(root)
    specs = {"release_side_spec": release_side_spec, "fair_spec": fair_spec}
    for flag, run in SIDE_STUDY_RUNS.values():
        if run not in specs[flag].runs:
            raise ReleaseError(f"--{flag}: study {specs[flag].name} has no run {run!r} "
                               f"(it has {', '.join(specs[flag].runs)})")
    epochs = tuple(release_side_spec.rounds)
    results = {flag: study.collect(spec, root) for flag, spec in specs.items()}
    rows = {}
    for name, label in SIDE_ROWS:
        if name == "release":
            folder = os.path.join(root, SIDE_RELEASE_FOLDER)
            rows[name] = dict(label=label, source=os.path.join(folder, "seed_N"),
                              seeds=read_release_seeds(folder, epochs))
            continue
        flag, run = SIDE_STUDY_RUNS[name]
        rows[name] = dict(label=label, source=study.run_dir(root, specs[flag], run, "N"),
                          seeds=_study_seeds(specs[flag], results[flag], root, run, epochs))
    repeat = None  # no repeat study in the protocol: verdicts need no rerun spread
    for repeat_spec in repeat_specs:  # the rows' runs trained again (the release is not)
        repeat = {} if repeat is None else repeat
        again = study.collect(repeat_spec, root)
        for run in (name for name in repeat_spec.runs if name in rows):
            seeds = _study_seeds(repeat_spec, again, root, run, epochs)
            if seeds:
                repeat.setdefault(run, {}).update({seed: s["epochs"] for seed, s in seeds.items()})
    if repeat is not None:
        again = read_release_seeds(os.path.join(root, SIDE_RELEASE_REPEAT_FOLDER), epochs)
        again = {seed: {e: entry for e, entry in s["epochs"].items() if _scored(entry)} for seed, s in again.items()}
        if any(again.values()):
            repeat["release"] = {seed: by_epoch for seed, by_epoch in again.items() if by_epoch}
    scored = [(f"{name} seed {seed} epoch {epoch}", entry["classifier"])
              for name, row in rows.items() for seed, s in row["seeds"].items()
              for epoch, entry in s["epochs"].items() if _scored(entry)]
    scored += [(f"the repeat of {run} seed {seed} epoch {epoch}", entry["classifier"])
               for run, seeds in (repeat or {}).items() for seed, by_epoch in seeds.items()
               for epoch, entry in by_epoch.items()]
    classifier = _check_one_classifier(scored)
    for entry in _entries(rows, repeat):  # each score keeps which classifier and its accuracy
        record = entry["classifier"] if isinstance(entry["classifier"], dict) else {}
        entry["classifier"] = (dict(path=record.get("path"), test_accuracy=record.get("test_accuracy"))
                               if _scored(entry) else None)
    return dict(root=root, epochs=list(epochs), steps_per_epoch=release_side_spec.steps_per_epoch,
                classifier=classifier, rows=rows, repeat=repeat)


def _scored(entry):
    """Whether an entry holds scores (a release epoch not scored yet holds only its health)."""
    return any(isinstance(entry.get(key), (int, float)) for key in SIDE_SCORES)


def _entries(rows, repeat=None):
    for row in rows.values():
        for s in row["seeds"].values():
            yield from s["epochs"].values()
    for seeds in (repeat or {}).values():
        for by_epoch in seeds.values():
            yield from by_epoch.values()


def read_run_log(logdir, tags=("steps_per_second", "memory/real_rate")):
    """{tag: {step: value}} of the scalars `tags` in a project run's TensorBoard log
    (its event files, oldest first; a step logged twice keeps the later value)."""
    import glob

    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    out = {tag: {} for tag in tags}
    if not glob.glob(os.path.join(logdir, "*tfevents*")):
        return out
    guidance = {event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 1, event_accumulator.HISTOGRAMS: 1}
    log = event_accumulator.EventAccumulator(logdir, size_guidance=guidance)
    log.Reload()
    present = set(log.Tags().get("tensors", []))
    for tag in tags:
        for event in (log.Tensors(tag) if tag in present else []):
            out[tag][int(event.step)] = float(tensor_util.make_ndarray(event.tensor_proto))
    return out


def add_run_logs(side, read_log=read_run_log):
    """Fills the project rows' seconds per step and real share of slots from each run's
    TensorBoard log: 1 / the median steps_per_second over the epoch's logging intervals,
    and memory/real_rate (the share of slots labelled real) at the epoch's last step.
    Left None where the log has none (a DCGAN has no memory). Imports TensorFlow."""
    import numpy as np

    for row in side["rows"].values():
        for s in row["seeds"].values():
            if "logdir" not in s:
                continue  # the release's come from its release_run.json
            log = read_log(s["logdir"])
            for epoch, entry in s["epochs"].items():
                start = entry["step"] * (epoch - 1) // epoch  # the step the epoch starts after
                rates = [v for step, v in log.get("steps_per_second", {}).items()
                         if start < step <= entry["step"] and v > 0]
                entry["seconds_per_step"] = float(1.0 / np.median(rates)) if rates else None
                entry["real_share"] = log.get("memory/real_rate", {}).get(entry["step"])
    return side


def _side_view(side, rows):
    """study.collect's shape {row: {seed: {step: entry}}} of `rows` ({row: {seed: {epoch:
    entry}}}), every side's epoch at the release side's step."""
    per_epoch = side["steps_per_epoch"]
    return {name: {seed: {epoch * per_epoch: entry for epoch, entry in by_epoch.items()}
                   for seed, by_epoch in seeds.items()} for name, seeds in rows.items()}


def _counts(side, name, epoch, key=None):
    """The sample counts of row `name`'s scores at `epoch` (of those with `key`), sorted."""
    entries = [s["epochs"][epoch] for s in side["rows"][name]["seeds"].values() if epoch in s["epochs"]]
    return sorted({e["num_samples"] for e in entries if e["num_samples"] is not None
                   and (key is None or isinstance(e.get(key), (int, float)))})


def _images(counts):
    return " / ".join(f"{c:,}" for c in counts) if counts else "-"


def side_tables(side):
    """{epoch: {row: {"status", "seeds", "num_samples", "columns": {key: {"mean", "std",
    "values"}}}}}: mean and std over seeds (n - 1, as study.compare's) with each seed's
    value, in seed order. Status "not run" (no seed of the row at all), "not reached" (none
    at this epoch) or "run"."""
    import numpy as np

    tables = {}
    for epoch in side["epochs"]:
        table = {}
        for name, _ in SIDE_ROWS:
            seeds = side["rows"][name]["seeds"]
            present = sorted(seed for seed, s in seeds.items() if epoch in s["epochs"])
            status = "not run" if not seeds else "not reached" if not present else "run"
            columns = {}
            for key in SIDE_COLUMNS:
                values = [float(seeds[seed]["epochs"][epoch][key]) for seed in present
                          if isinstance(seeds[seed]["epochs"][epoch].get(key), (int, float))]
                columns[key] = dict(values=values, mean=float(np.mean(values)) if values else None,
                                    std=float(np.std(values, ddof=1)) if len(values) > 1 else None)
            table[name] = dict(status=status, seeds=present, num_samples=_counts(side, name, epoch),
                               columns=columns)
        tables[epoch] = table
    return tables


def side_comparisons(side):
    """study.compare of every SIDE_COMPARISONS pair and score at SIDE_VERDICT_EPOCHS, with
    the run-to-run spread of one seed from the repeat studies (study.pair_spread: the larger
    of the two runs', waiting for a run they train again); with a repeat study in the
    protocol a verdict waits for that spread ("pending"), as the fair study's do. A pair is compared only where both rows were
    scored with one number of images (FID, KID, precision and recall depend on it);
    otherwise, or with a row not run, the verdict says why and gives no statistics."""
    from memorygan_tf import study

    view = _side_view(side, {name: {seed: s["epochs"] for seed, s in row["seeds"].items()}
                             for name, row in side["rows"].items()})
    out = []
    for epoch in SIDE_VERDICT_EPOCHS:
        if epoch not in side["epochs"]:
            continue
        step = epoch * side["steps_per_epoch"]
        for run_a, run_b, keys in SIDE_COMPARISONS:
            for key in keys:
                counts = {run: _counts(side, run, epoch, key) for run in (run_a, run_b)}
                base = dict(metric=key, step=step, epochs=epoch, a=run_a, b=run_b,
                            num_samples_a=counts[run_a], num_samples_b=counts[run_b])
                missing = [run for run in (run_a, run_b) if not side["rows"][run]["seeds"]]
                if missing:
                    out.append(dict(base, verdict=f"{' and '.join(missing)} not run"))
                    continue
                if len(set(counts[run_a]) | set(counts[run_b])) > 1:
                    out.append(dict(base, verdict=f"not compared: {run_a} scored with {_images(counts[run_a])} "
                                                  f"images, {run_b} with {_images(counts[run_b])}"))
                    continue
                same = set(counts[run_a]) | set(counts[run_b])
                repeat = _side_view(side, {run: {seed: {e: entry for e, entry in by_epoch.items()
                                                        if entry["num_samples"] in same}
                                                 for seed, by_epoch in seeds.items()}
                                           for run, seeds in (side["repeat"] or {}).items()})
                spread = study.pair_spread(view, repeat, run_a, run_b, step, key, repeated=set(repeat))
                out.append(dict(study.compare(view, step, run_a, run_b, key, spread,
                                              require_spread=side["repeat"] is not None), **base))
    return out


def side_report(side):
    """`side` (collect_side's, add_run_logs' where read) with its tables and comparisons."""
    return dict(side, tables=side_tables(side), comparisons=side_comparisons(side),
                seconds_per_step_sources=SECONDS_SOURCES)


def side_text(report):
    """The printed side-by-side of side_report's `report`: a markdown table per epoch and
    the comparisons (study.comparison_table)."""
    from memorygan_tf import study

    def cell(column, key):
        values, mean, std = column["values"], column["mean"], column["std"]
        if not values:
            return "-"
        if std is None:
            return study._number(mean)
        return study.mean_std_text(mean, std, values if key in SIDE_SCORES else None)

    classifier = study.classifier_label(report.get("classifier")) or "no classifier recorded yet"
    titles = [SIDE_TITLES[key] for key in SIDE_COLUMNS]
    lines = ["Every side is scored with its trained generator: the release keeps no moving average."]
    for epoch in report["epochs"]:
        table = report["tables"][epoch]
        lines += ["", f"## The authors' release beside the project, epoch {epoch}: trained generator, "
                      f"mean +- std over seeds (each seed), scored by {classifier}", "",
                  "| row | seeds | images | " + " | ".join(titles) + " |", "|---|---|---|" + "---|" * len(titles)]
        by_count = {}
        for name, label in SIDE_ROWS:
            row = table[name]
            if row["status"] != "run":
                lines.append(f"| {name}: {label} | {row['status']} | - | " + " | ".join("-" for _ in titles) + " |")
                continue
            for count in row["num_samples"]:
                by_count.setdefault(count, []).append(name)
            cells = [cell(row["columns"][key], key) for key in SIDE_COLUMNS]
            lines.append(f"| {name}: {label} | {len(row['seeds'])} | {_images(row['num_samples'])} | "
                         + " | ".join(cells) + " |")
        if len(by_count) > 1:
            groups = "; ".join(f"{count:,} for {', '.join(names)}" for count, names in sorted(by_count.items()))
            lines += ["", f"Images scored: {groups}. FID, KID, precision and recall depend on that number: "
                          "compare only rows scored with as many."]
    epochs = [e for e in SIDE_VERDICT_EPOCHS if e in report["epochs"]]
    if epochs:
        lines += ["", f"## Comparisons at epoch {', '.join(map(str, epochs))}, trained generator (A - B over seeds, "
                      f"a verdict only with {study.MIN_VERDICT_SEEDS} seeds a side, Welch p < {study.VERDICT_ALPHA}, "
                      "a CI excluding 0 and a gap above one seed's rerun spread)", "",
                  study.comparison_table(report["comparisons"])]
    return "\n".join(lines)
