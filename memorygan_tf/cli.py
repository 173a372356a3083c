"""What every command-line entry point shares (memorygan_tf.main and tools/*.py):
a one-line error for a user mistake instead of a traceback, and a quiet start.

TensorFlow's C++ runtime writes start-up lines straight to file descriptor 2 while it is
imported (absl's "All log messages before absl::InitializeLog()" preamble, oneDNN's
"custom operations are on" and the CPU feature guard's "rebuild TensorFlow" notice), on
CPUs where oneDNN is on by default (or with TF_ENABLE_ONEDNN_OPTS=1) and before any
Python logging setting can apply, so TF_CPP_MIN_LOG_LEVEL does not remove them.
`quiet_logging` therefore imports TensorFlow with descriptor 2 sent to a temporary file
and afterwards writes back everything it caught except those known lines: Python
warnings, errors and any other output of the import still reach the user, in order.
`-v 1` (absl's verbosity) or MEMORYGAN_TF_STARTUP_LOG=1 shows TensorFlow's lines again.
"""

from __future__ import annotations

import logging as pylogging
import os
import re
import sys
import tempfile

from memorygan_tf import rundir

USAGE_ERROR = 2  # exit status of a user mistake (bad flag, missing file)
BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader went away
STARTUP_LOG_ENV = "MEMORYGAN_TF_STARTUP_LOG"  # set to 1 to see TensorFlow's start-up lines

# The lines TensorFlow's runtime prints at import that carry no news for the user:
# glog-style INFO lines ("I0000 00:00:1796278481.746943 2244 port.cc:153] ..."), absl's
# pre-initialisation preamble, the continuation line of the CPU feature notice, and the
# GPU build's "failed call to cuInit" on a machine without a usable GPU (the `release` extra's
# tf_keras installs the GPU build beside tensorflow-cpu; TensorFlow then runs on the CPU).
_STARTUP_LINES = (
    re.compile(r"^I\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] "),
    re.compile(r"^E\d{4} [\d:.]+\s+\d+ cuda_platform\.cc:\d+\] failed call to cuInit: "),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    re.compile(r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$"),
)


def fail(message):
    """Prints `error: <message>` to stderr and returns the usage-error exit status."""
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def silence_stdout():
    """Points stdout at /dev/null: after a BrokenPipeError (output piped into `head`), so
    that later prints and the flush at exit do not fail again (Python's documented recipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def without_startup_lines(text):
    """`text` less TensorFlow's known start-up lines (everything else kept, in order)."""
    kept = [line for line in text.splitlines(keepends=True)
            if not any(pattern.match(line.rstrip("\r\n")) for pattern in _STARTUP_LINES)]
    return "".join(kept)


def show_startup_lines(verbosity, environ=None):
    """True where the user asked to see TensorFlow's start-up lines (-v 1, or the variable)."""
    environ = os.environ if environ is None else environ
    return verbosity >= 1 or environ.get(STARTUP_LOG_ENV, "").strip().lower() in ("1", "true", "yes")


def import_tensorflow_quietly(verbosity=0, environ=None):
    """Imports TensorFlow, holding back its C++ start-up lines unless the user asked for them.

    Only the import itself runs with file descriptor 2 redirected; what it wrote, less
    the known start-up lines, goes to the real stderr afterwards (also when the import
    raises). Returns the module.
    """
    if "tensorflow" in sys.modules or show_startup_lines(verbosity, environ):
        import tensorflow
        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            rest = without_startup_lines(caught.read().decode("utf-8", errors="replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
    return tensorflow


def quiet_logging(verbosity):
    """The start of every entry point, before anything imports TensorFlow.

    Turns oneDNN on unless the user set TF_ENABLE_ONEDNN_OPTS, imports TensorFlow
    without its start-up lines (see the module docstring) and, at
    absl's default verbosity (0, INFO), keeps TensorFlow's Python INFO lines out too.
    """
    from absl import logging

    # oneDNN's kernels: TensorFlow turns them on by itself only on some CPUs (Intel, AVX-512
    # VNNI/BF16); off, a Fashion-MNIST step took 2.3x as long on an AVX-512 machine and
    # bfloat16 ran ~7x slower than float32 (docs/PERFORMANCE.md). TF_ENABLE_ONEDNN_OPTS=0
    # given by the user still turns them off.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    import_tensorflow_quietly(verbosity)
    if verbosity == 0:
        logging.set_verbosity(logging.WARNING)
        pylogging.getLogger("tensorflow").setLevel(pylogging.WARNING)


# ------------------------------------------------------- rules every tool shares
INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C


def run_tool(main, interrupted="nothing half-written was kept"):
    """Runs a tool's `main(argv)` under absl with the shared endings: Ctrl-C (or SIGTERM)
    prints one line saying what stays (`interrupted`) and exits 130, output piped into
    `head` exits 141 quietly; never a traceback for either."""
    import signal

    from absl import app

    def terminate(signum, frame):  # SIGTERM (kill, preemption): end like Ctrl-C
        raise KeyboardInterrupt

    def entry(argv):
        signal.signal(signal.SIGTERM, terminate)
        try:
            code = main(argv)
        except KeyboardInterrupt:
            try:
                sys.stdout.flush()
            except (OSError, ValueError):
                pass
            print(f"\nerror: interrupted; {interrupted}", file=sys.stderr)
            code = INTERRUPTED
        except BrokenPipeError:
            silence_stdout()
            code = BROKEN_PIPE
        sys.exit(code)

    try:
        app.run(entry)
    except KeyboardInterrupt:  # during absl's own start, before `entry`
        print("\nerror: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)


def interactive():
    """Whether stdout is a terminal: progress bars redraw there; in a log file they would
    write hundreds of kB of carriage-return updates, so tools print a line now and then."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def fit_verbose():
    """Keras fit's `verbose` for the output at hand: the progress bar on a terminal, one line
    per epoch in a log."""
    return "auto" if interactive() else 2


def progress(total, label, every=0.1, stream=None):
    """A callback `update(done)` showing progress of `total` units with an ETA: Keras's
    Progbar on a terminal; in a log, one line per `every` of the work (and at the end)."""
    import time

    if interactive() and stream is None:
        import keras

        bar = keras.utils.Progbar(total, unit_name=label)
        return lambda done: bar.update(min(done, total))
    stream = sys.stdout if stream is None else stream
    start = time.time()
    state = {"next": 0.0}

    def update(done):
        fraction = min(done, total) / total if total else 1.0
        if fraction < state["next"] and done < total:
            return
        state["next"] = fraction + every
        elapsed = time.time() - start
        eta = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        print(f"  {label} {min(done, total)}/{total} ({fraction:.0%}), {elapsed:.0f} s elapsed, "
              f"ETA {eta:.0f} s", file=stream, flush=True)

    return update


FIELD_DEFAULT = object()  # define_option_flag's default: the field's declared one


def define_option_flag(section, name, default=FIELD_DEFAULT, help_text=None):
    """Defines the absl flag of config field `section.name` from its declaration (its flag
    name, type, choices, default and help; `default` and `help_text` where the caller's
    command takes others): main defines every config field so, a tool the fields it
    shares with main."""
    from absl import flags

    from memorygan_tf import configs

    _, _, flag, kind, field = next(entry for entry in configs.flag_fields() if entry[:2] == (section, name))
    default = field.default if default is FIELD_DEFAULT else default
    help_text = help_text or field.metadata["help"]
    choices = field.metadata["choices"]
    if kind is bool:
        flags.DEFINE_boolean(flag, default, help_text)
    elif choices is not None and kind is str:
        flags.DEFINE_enum(flag, default, list(choices), help_text)
    elif kind is int:
        flags.DEFINE_integer(flag, default, help_text)
    elif kind is float:
        flags.DEFINE_float(flag, default, help_text)
    else:
        flags.DEFINE_string(flag, default, help_text)


def run_directory_of(path):
    """The run directory (a folder holding config.json, as memorygan_tf.main writes) that
    `path` lies in, or None."""
    folder = os.path.dirname(os.path.realpath(path))
    while True:
        if os.path.isfile(os.path.join(folder, rundir.RunDir.CONFIG)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


RESERVED = rundir.RunDir.RESERVED  # a run's own, never a tool's output


def outside_reserved(relative):
    """A `replaceable` for check_output: anything but a run's reserved names (export: its
    own rule keeps it off folders that hold anything but an earlier export)."""
    return relative.split(os.sep)[0] not in RESERVED


def evaluation_file(relative):
    """Files a tool may (re)write inside a run directory: its scores, eval/**.json."""
    parts = relative.split(os.sep)
    return len(parts) >= 2 and parts[0] == rundir.RunDir.EVAL and relative.endswith(".json")


def check_output(path, flag, replaceable=lambda relative: False):
    """None, or the one-line refusal of an output `path` that would land on a file a run owns.

    A tool's output never replaces anything in a run directory (config.json, checkpoints,
    logs, samples, TensorBoard files), and never goes into checkpoints/ or onto config.json
    or .lock even as a new file; `replaceable(relative path)` names what the tool may
    rewrite there (evaluate: eval/**.json)."""
    real = os.path.realpath(path)
    run = run_directory_of(real)
    if run is None or real == run:
        return None
    relative = os.path.relpath(real, run)
    top = relative.split(os.sep)[0]
    if top not in RESERVED and replaceable(relative):
        return None
    if top in RESERVED or os.path.lexists(real):
        return (f"--{flag}: {path} is {relative} of the run in {run}, which the run owns; "
                "write somewhere else")
    return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_siblings(target, log=lambda message: None):
    """Removes `target`.partial-PID and `target`.old-PID folders left by a process that was
    killed (its PID no longer alive): what a killed export or classifier swap leaves."""
    import shutil

    parent, name = os.path.split(os.path.abspath(target))
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        match = re.fullmatch(re.escape(name) + r"\.(partial|old)-(\d+)", entry)
        if match and int(match.group(2)) != os.getpid() and not _alive(int(match.group(2))):
            stale = os.path.join(parent, entry)
            if os.path.isdir(stale) and not os.path.islink(stale):
                shutil.rmtree(stale, ignore_errors=True)
                log(f"Removed {stale}, left by an interrupted earlier run.")


def replace_folder(staging, target):
    """Moves the finished folder `staging` to `target`, keeping an earlier `target` whole
    until the new one is in place: the old one is renamed aside (target.old-PID), the new
    one renamed in, and only then the old one deleted. At every moment one of them is
    complete, and a kill leaves at most a sibling that remove_stale_siblings clears."""
    import shutil

    aside = None
    if os.path.lexists(target):
        aside = f"{target}.old-{os.getpid()}"
        os.replace(target, aside)
    try:
        os.replace(staging, target)
    except OSError:
        if aside is not None:
            os.replace(aside, target)  # put the earlier one back
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def pixels_differ(a, b, tolerance=0.15):
    """Whether two uint8 image sets differ in the mean or spread of their pixels by more than
    `tolerance` of the range: images of another data set (Fashion-MNIST's mean pixel 73
    against MNIST's 33), where two splits of one data set differ by well under 1 %."""
    import numpy as np

    a, b = np.asarray(a, np.float64) / 255.0, np.asarray(b, np.float64) / 255.0
    return abs(a.mean() - b.mean()) > tolerance / 2 or abs(a.std() - b.std()) > tolerance
