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

Library code: no flags are read here; user mistakes raise :class:`ReleaseError`, whose
message starts with the command-line flag concerned.
"""

from __future__ import annotations

import ast
import collections
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


def read_memory_dump(path):
    """(keys, values, histogram, ages) of a memory dump (.npz with keys, values,
    histogram and optionally ages)."""
    try:
        with np.load(path) as arrays:
            missing = [k for k in ("keys", "values", "histogram") if k not in arrays.files]
            if missing:
                raise ReleaseError(f"--out: memory dump {path} lacks {', '.join(missing)} "
                                   f"(it has {', '.join(arrays.files) or 'nothing'})")
            keys, values, histogram = (arrays[k] for k in ("keys", "values", "histogram"))
            ages = arrays["ages"] if "ages" in arrays.files else None
    except (OSError, ValueError, EOFError) as err:
        raise ReleaseError(f"--out: cannot read memory dump {path} ({err})") from None
    if keys.ndim != 2 or values.shape != (keys.shape[0],) or histogram.shape != (keys.shape[0],):
        raise ReleaseError(f"--out: memory dump {path} has keys {keys.shape}, values {values.shape}, "
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
    """{step: IS, FID, KID, precision, recall} of each row's samples (read_run) under the
    project's classifier, against the test images of `data_path` (evaluation.sample_quality,
    as tools/evaluate.py scores a project run)."""
    from memorygan_tf import data, evaluation

    path = os.path.join(classifier_dir, "classifier.keras")
    if not os.path.isfile(path):
        raise ReleaseError(f"--classifier: no {path}; train one with tools/train_classifier.py")
    if not data_path or not str(data_path).endswith(".npz"):
        raise ReleaseError("--data_path: scoring needs the keras.datasets .npz with x_test, y_test")
    try:
        _, _, x_test, _ = data.load_labelled("fashion_mnist", data_path, None, 0)
    except data.DataError as err:
        raise ReleaseError(f"--data_path: {err}") from None
    classifier = evaluation.load_classifier(path)
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
    return scores
