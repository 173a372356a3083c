"""tools/fair_queue.sh runs each step's studies with the arguments its comments promise: checked
with a stand-in `python` on PATH that records its command lines instead of training."""

import os
import stat
import subprocess

from tests.helpers import ROOT


def queued_commands(tmp_path, steps):
    log = tmp_path / "commands.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", ROOT=str(tmp_path / "runs"),
               STEPS=steps)
    result = subprocess.run(["bash", os.path.join(ROOT, "tools", "fair_queue.sh")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_table2_anew_stays_at_table2s_budget_and_its_extension_trains_only_the_level_pair(tmp_path):
    """The Table 2 study's spec has rounds to epoch 10, but `table2_anew` is its epoch-3 study
    (all three runs); only `table2_anew_to_10` goes further, and only for memorygan and no_mcgn."""
    anew = queued_commands(tmp_path / "a", "table2_anew")
    assert len(anew) == 2
    assert all("--max_epochs=3" in c for c in anew)
    assert "fashion_mnist_table2_fair.json" in anew[0] and "--runs=" not in anew[0]
    assert "fashion_mnist_table2_fair_repeat.json" in anew[1]

    later = queued_commands(tmp_path / "b", "table2_anew_to_10")
    assert len(later) == 2
    assert not any("--max_epochs" in c for c in later)
    assert "fashion_mnist_table2_fair.json" in later[0] and "--runs=memorygan,no_mcgn" in later[0]
    assert "fashion_mnist_table2_fair_repeat.json" in later[1]
    assert all("classifiers/fashion_mnist_w16_table2" in c for c in anew + later)


def test_an_unknown_step_is_one_line_naming_the_steps(tmp_path):
    env = dict(os.environ, ROOT=str(tmp_path), STEPS="table2_anew no_such_step")
    result = subprocess.run(["bash", os.path.join(ROOT, "tools", "fair_queue.sh")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "no step 'no_such_step'" in result.stderr and "table2_anew_to_10" in result.stderr
