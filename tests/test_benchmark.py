"""The benchmark CLI as a smoke test (well-formed JSON, not timings), and the NumPy baseline."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import numpy_memory
from benchmarks import suite as benchmarks
from memorygan_tf.models.memorygan.memory import Memory
from tests.helpers import ROOT


def test_numpy_baseline_matches_the_tf_memory():
    rng = np.random.default_rng(0)
    size, dim, k = 64, 8, 6
    keys, values, hist, ages = benchmarks.random_memory_state(size, dim, rng)
    tf_memory = Memory(size, dim, k)
    for var, value in zip((tf_memory.keys, tf_memory.values, tf_memory.ages, tf_memory.histogram),
                          (keys, values, ages, hist)):
        var.assign(value)
    np_memory = numpy_memory.NumpyMemory(size, dim, k)
    np_memory.keys, np_memory.values, np_memory.hist, np_memory.ages = keys, values, hist, ages
    for _ in range(4):
        q = rng.standard_normal((8, dim)).astype(np.float32)
        y = np.r_[np.ones(4), np.zeros(4)].astype(np.float32)
        np.testing.assert_allclose(np_memory.read(q), tf_memory.read(tf.constant(q)).numpy(), rtol=1e-5)
        np_memory.update(q, y)
        tf_memory.update(tf.constant(q), tf.constant(y))
        np.testing.assert_allclose(np_memory.keys, tf_memory.keys.numpy(), atol=1e-5)
        np.testing.assert_allclose(np_memory.hist, tf_memory.histogram.numpy(), rtol=1e-5)
        np.testing.assert_array_equal(np_memory.values, tf_memory.values.numpy())
        np.testing.assert_array_equal(np_memory.ages, tf_memory.ages.numpy())


@pytest.mark.slow
def test_quick_benchmark_writes_well_formed_json(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), "--quick",
                             f"--out={out}"], env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["mode"] == "quick"
    step = data["train_step"][0]
    assert step["dataset"] == "fashion_mnist" and step["memorygan_step_ms"] > 0 and step["dcgan_step_ms"] > 0
    from memorygan_tf import configs

    assert [e["model"] for e in data["model_steps"]] == list(configs.MODELS) + ["micgan_conditional"]
    assert all(e["step_ms"] > 0 for e in data["model_steps"])
    assert "| micgan |" in (tmp_path / "bench.md").read_text()
    assert step["ratio"] == pytest.approx(step["memorygan_step_ms"] / step["dcgan_step_ms"], rel=1e-6)
    for entry in data["memory"]:
        assert {"size", "key_dim", "choose_k", "read_update_ms", "floor_ms", "ratio_to_floor"} <= set(entry)
        assert entry["ratio_to_floor"] > 0
    assert data["input_pipeline"]["delivered_images_per_s"] > 0
    assert data["flops"][0]["gflop_per_step"] > 1.0
    assert data["flops"][0]["achieved_gflops"] > 0 and "peak_gflops" in data["flops"][0]
    machine = data["machine"]
    assert {"cpu", "instruction_sets", "cores", "onednn", "auto_precision", "peak_gflops"} <= set(machine)
    assert step["precision"] in ("float32", "mixed_bfloat16")
    settings = {e["setting"]: e for e in data["speed_settings"]}
    assert settings["float32 + keras Adam (before)"]["ratio_to_before"] == 1.0
    assert all(e["step_ms"] > 0 for e in settings.values())
    assert {r["use_memory"] for r in data["peak_rss_mib"]} == {True, False}
    assert all(isinstance(v, bool) for v in data["targets"].values())
    assert (tmp_path / "bench.md").read_text().startswith("# Benchmark (quick")


@pytest.mark.slow
def test_baseline_comparison_writes_each_setting_and_its_ratio(tmp_path):
    """--baseline times another checkout against this one (here: this one against itself)."""
    out = tmp_path / "before_after.json"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), f"--baseline={ROOT}",
                             "--rounds=1", "--quick", f"--out={out}"], capture_output=True, text=True,
                            timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["mode"] == "baseline" and {"cpu", "instruction_sets", "onednn"} <= set(data["machine"])
    rows = data["compare_checkouts"]
    bfloat16 = data["machine"]["auto_precision"] == "mixed_bfloat16"  # then also its MemoryGAN and DCGAN rows
    assert len(rows) == (6 if bfloat16 else 4) and rows[0]["ratio_to_before"] == 1.0
    assert any("mixed_bfloat16" in row["setting"] for row in rows) == bfloat16
    for row in rows:
        assert len(row["rounds"]) == 1 and row["step_ms"] > 0
        assert row["ratio_to_before"] == pytest.approx(row["step_ms"] / rows[0]["step_ms"])
    assert "| setting | step ms |" in (tmp_path / "before_after.md").read_text()


@pytest.mark.messages
def test_baseline_that_is_not_a_checkout_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "benchmark.py"),
                             f"--baseline={tmp_path}"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr == f"error: --baseline: {tmp_path} is not a checkout of this project (no memorygan_tf/)\n"
