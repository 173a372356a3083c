"""The entry points' quiet start: TensorFlow's C++ start-up lines are held back, nothing else.

Run by CI a second time with TF_ENABLE_ONEDNN_OPTS=1 (the `messages` group), which makes
TensorFlow print those lines on any x86 CPU, as it does by default on Intel and AVX-512 ones.
"""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from memorygan_tf import cli
from tests.helpers import ROOT

pytestmark = pytest.mark.messages

# What TensorFlow 2.21 printed at import on a 2-core AVX-512 machine with oneDNN on.
STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796278481.746943    2244 port.cc:153] oneDNN custom operations are on. You may see "
    "slightly different numerical results due to floating-point round-off errors from different "
    "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"
    "I0000 00:00:1796278481.779488    2244 cpu_feature_guard.cc:227] This TensorFlow binary is optimized "
    "to use available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 AVX_VNNI FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.\n"
    "E0000 00:00:1796615143.181447    2214 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
    "error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
OTHERS = (
    "/data/load.py:3: UserWarning: pixels look odd\n"
    "E0000 00:00:1796278481.800000    2244 cuda_executor.cc:1] a real error\n"
    "W0000 00:00:1796278481.800001    2244 some_op.cc:7] a real warning\n"
    "I1203 06:15:58.530790 139782229560192 tpu_cluster_resolver.py:34] but not this Python INFO line\n"
)


def test_filter_drops_exactly_the_startup_lines():
    text = STARTUP + OTHERS + STARTUP
    assert cli.without_startup_lines(text) == OTHERS.replace(OTHERS.splitlines(True)[-1], "")
    assert cli.without_startup_lines("") == ""
    assert cli.without_startup_lines("error: --kappa: must be positive\n") == "error: --kappa: must be positive\n"


def test_startup_lines_are_shown_on_request():
    assert not cli.show_startup_lines(0, {})
    assert cli.show_startup_lines(1, {})
    assert cli.show_startup_lines(0, {cli.STARTUP_LOG_ENV: "1"})
    assert not cli.show_startup_lines(0, {cli.STARTUP_LOG_ENV: "0"})


def run_with_fake_tensorflow(tmp_path, verbosity, body=""):
    """Imports a stand-in `tensorflow` that writes like the real one to descriptor 2."""
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(textwrap.dedent(f"""
        import os, sys, warnings
        os.write(2, {STARTUP!r}.encode())
        warnings.warn("pixels look odd")
        os.write(2, {OTHERS.splitlines(True)[1]!r}.encode())
        {body}
    """))
    script = ("import sys\nfrom memorygan_tf import cli\n"
              f"try:\n    cli.quiet_logging({verbosity})\nexcept ImportError as e:\n    print('caught', e, file=sys.stderr)\n"
              "print('after the import', file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "fake"), ROOT]))
    env.pop(cli.STARTUP_LOG_ENV, None)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)


def test_everything_but_the_startup_lines_reaches_the_user_in_order(tmp_path):
    result = run_with_fake_tensorflow(tmp_path, 0)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "oneDNN" not in result.stderr and "absl::InitializeLog" not in result.stderr, result.stderr
    assert "UserWarning: pixels look odd" in lines[0]
    assert lines[-2:] == [OTHERS.splitlines()[1], "after the import"], lines


def test_verbosity_one_shows_the_startup_lines(tmp_path):
    result = run_with_fake_tensorflow(tmp_path, 1)
    assert result.stderr.startswith(STARTUP), result.stderr
    assert result.stderr.rstrip().endswith("after the import")


def test_a_failing_import_still_shows_what_it_wrote(tmp_path):
    result = run_with_fake_tensorflow(tmp_path, 0, body="raise ImportError('no wheel for this CPU')")
    assert "oneDNN" not in result.stderr
    assert "UserWarning: pixels look odd" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2:] == ["caught no wheel for this CPU", "after the import"]


def real_import(verbosity, **env):
    script = f"from memorygan_tf import cli\ncli.quiet_logging({verbosity})\nprint('imported')\n"
    environ = {k: v for k, v in os.environ.items() if k != cli.STARTUP_LOG_ENV}
    environ.update(TF_ENABLE_ONEDNN_OPTS="1", PYTHONPATH=ROOT, **env)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environ,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="TF_ENABLE_ONEDNN_OPTS is x86's")
def test_real_tensorflow_with_onednn_on_starts_quietly_and_shows_on_request():
    quiet = real_import(0)
    assert quiet.returncode == 0 and quiet.stdout == "imported\n", quiet.stderr
    assert quiet.stderr == "", quiet.stderr
    loud = real_import(1)
    assert "oneDNN custom operations are on" in loud.stderr, loud.stderr  # the case is really there
    by_env = real_import(0, **{cli.STARTUP_LOG_ENV: "1"})
    assert "oneDNN custom operations are on" in by_env.stderr, by_env.stderr
