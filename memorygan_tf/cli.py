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

USAGE_ERROR = 2  # exit status of a user mistake (bad flag, missing file)
BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader went away
STARTUP_LOG_ENV = "MEMORYGAN_TF_STARTUP_LOG"  # set to 1 to see TensorFlow's start-up lines

# The lines TensorFlow's runtime prints at import that carry no news for the user:
# glog-style INFO lines ("I0000 00:00:1796278481.746943 2244 port.cc:153] ..."), absl's
# pre-initialisation preamble, and the continuation line of the CPU feature notice.
_STARTUP_LINES = (
    re.compile(r"^I\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] "),
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
