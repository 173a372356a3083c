"""MemoryGAN's evaluation report: the memory's health and what the test set does to it.

Memory health asks whether the DMN memory holds clusters: real slots in use, how many
distinct directions the real keys point in, their mean pairwise cosine and the effective
number of slots of the MCGN prior exp(H(p(c))). (How test images spread over slots is
evaluation.clustering_report's, as for every clustering model.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from memorygan_tf import data
from memorygan_tf.evaluation import effective_number


@dataclasses.dataclass(frozen=True)
class MemoryHealth:
    real_slots: int  # slots labelled real whose key was ever written
    distinct_real_keys: int  # directions among them (keys equal to 3 decimals count once)
    mean_real_cosine: float  # mean pairwise cosine of the written real keys (1 = collapsed)
    effective_slots: float  # exp(H(p(c))), p(c) ~ h v: how many slots the MCGN prior uses


def prior_mass(histogram, values, prior_temperature=1.0):
    """The MCGN prior's unnormalised mass of every slot, (h_i v_i)^(1/T) (Sec. 3.2; T = 1
    is the paper's prior): the one formula behind the effective slots and the cluster
    weights (Memory.prior_logits is its log, in the graph)."""
    return (np.asarray(histogram) * (np.asarray(values) > 0.5)) ** (1.0 / prior_temperature)


def memory_health(keys, values, histogram, prior_temperature=1.0):
    """Health of a memory from its arrays (keys [N, M], values [N], histogram [N]); the
    effective slots are those of the prior the MCGN draws from, (h v)^(1/T)."""
    keys, values, histogram = (np.asarray(a, np.float64) for a in (keys, values, histogram))
    written = np.abs(keys).sum(axis=1) > 0.0
    real = keys[(values > 0.5) & written]
    distinct = len(np.unique(np.round(real, 3), axis=0)) if len(real) else 0
    if len(real) > 1:
        gram = real @ real.T
        mean_cos = (gram.sum() - np.trace(gram)) / (len(real) * (len(real) - 1))
    else:
        mean_cos = float("nan")
    return MemoryHealth(int(len(real)), int(distinct), float(mean_cos),
                        effective_number(prior_mass(histogram, values, prior_temperature)))


def memory_report(model, test_images, batch_size=1000):
    """Memory health, the test images' log-likelihood under the real-data mixture, and what
    writing them as real samples would do (Memory.write_statistics): the share that would
    be reset (top slots all generated-labelled) and the posterior's entropy within S_1 of
    the others. (How they cluster over slots is clustering_report's, as for every
    clustering model.)"""
    memory = model.memory
    health = memory_health(memory.keys.numpy(), memory.values.numpy(), memory.histogram.numpy(),
                           memory.prior_temperature)
    likelihood, resets, entropy_sum, written = [], 0.0, 0.0, 0.0
    for start in range(0, len(test_images), batch_size):
        x = data.scale_images(test_images[start:start + batch_size], model.config.output_activation)
        query = memory.normalize(model.encoder(x, training=False))
        similarity = memory.similarity(query)  # one [batch, N] pass for the three reads
        likelihood.append(memory.log_likelihood(query, similarity).numpy())
        plan = memory.plan_update(query, tf.ones([tf.shape(query)[0]], memory.variable_dtype), similarity)
        rate, entropy = (float(v) for v in memory.write_statistics(plan))
        n_written = float(np.sum(np.any(plan.valid.numpy(), axis=-1)))
        resets += rate * len(x)
        entropy_sum += entropy * n_written
        written += n_written
    report = dataclasses.asdict(health)
    report["test_log_likelihood"] = float(np.mean(np.concatenate(likelihood)))
    report["test_reset_rate"] = resets / len(test_images)
    report["test_entropy_s"] = entropy_sum / written if written else 0.0
    return report
