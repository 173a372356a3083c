"""What every command-line entry point shares (memorygan_tf.main and tools/*.py):
a one-line error for a user mistake instead of a traceback, and quiet TF logging."""

from __future__ import annotations

import logging as pylogging
import sys

USAGE_ERROR = 2  # exit status of a user mistake (bad flag, missing file)


def fail(message):
    """Prints `error: <message>` to stderr and returns the usage-error exit status."""
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def quiet_logging(verbosity):
    """At absl's default verbosity (0, INFO) keeps TensorFlow's INFO lines out of the output."""
    from absl import logging

    if verbosity == 0:
        logging.set_verbosity(logging.WARNING)
        pylogging.getLogger("tensorflow").setLevel(pylogging.WARNING)
