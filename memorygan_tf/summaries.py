"""TensorBoard records of evaluations: eval/* scalars and the HParams dashboard."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

# The evaluation numbers shown as HParams metrics (tag eval/<name>).
EVAL_METRICS = ("inception_score", "fid", "kid", "precision", "recall", "real_slots", "distinct_real_keys", "mean_real_cosine",
                "effective_slots", "test_log_likelihood",
                # clustering models (evaluation.clustering_report)
                "cluster_purity_top", "cluster_nmi_top", "cluster_accuracy_top", "cluster_purity", "cluster_nmi",
                "cluster_accuracy", "clusters_used")


def hparams_of(config):
    """The run's model and optimizer settings as flat {name: bool | int | float | str}."""
    out = {}
    for section in ("model", "optimizer"):
        for key, value in dataclasses.asdict(getattr(config, section)).items():
            if isinstance(value, (bool, int, float, str)):
                out[key] = value
            else:
                out[key] = str(value)
    out["seed"] = config.train.seed
    return out


def write_evaluation(logdir, config, result):
    """Writes `result`'s numbers as eval/* scalars at its step, and the run's hparams."""
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        hp.hparams(hparams_of(config), trial_id=config.train.logdir)
        for name in EVAL_METRICS:
            value = result.get(name)
            if isinstance(value, (int, float)):
                tf.summary.scalar(f"eval/{name}", value, step=result["step"])
            ema = result.get("ema", {}).get(name)  # the generator's moving average
            if isinstance(ema, (int, float)):
                tf.summary.scalar(f"eval_ema/{name}", ema, step=result["step"])
    writer.flush()
    writer.close()

