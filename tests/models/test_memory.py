"""Memory numerics against the independent NumPy reference, plus invariants."""

import dataclasses
import inspect

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs
from memorygan_tf.models.memorygan.memory import Memory, initial_values
from memorygan_tf.models.memorygan.options import DATASET_PRESETS, MemoryGANOptions
from tests.models.reference_memory import NumpyMemory

N, M, K = 48, 6, 5


def random_state(rng, size=N, dim=M):
    keys = rng.normal(size=(size, dim))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    return dict(keys=keys, values=(rng.random(size) < 0.5).astype(np.float64),
                ages=rng.integers(0, 20, size).astype(np.float64),
                histogram=rng.uniform(0.01, 3.0, size))


def load(memory, state):
    memory.keys.assign(state["keys"].astype(np.float32))
    memory.values.assign(state["values"].astype(np.float32))
    memory.ages.assign(state["ages"].astype(np.float32))
    memory.histogram.assign(state["histogram"].astype(np.float32))


def tf_state(memory):
    return dict(keys=memory.keys.numpy(), values=memory.values.numpy(), ages=memory.ages.numpy(),
                histogram=memory.histogram.numpy())


def assert_same_state(memory, reference, atol=1e-5):
    got, want = tf_state(memory), reference.state()
    for name in ("values", "ages"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    np.testing.assert_allclose(got["histogram"], want["histogram"], rtol=1e-5, atol=atol, err_msg="histogram")
    np.testing.assert_allclose(got["keys"], want["keys"], atol=atol, err_msg="keys")


def reference_log_joint(state, queries):
    """log p(x|c) p(c) of every slot for each query, from the NumPy reference, [B, N]."""
    reference = NumpyMemory(N, M, K)
    reference.load(**state)
    return np.stack([reference.log_joint(reference.unit(q)) for q in queries])


def test_initial_state_matches_release():
    memory = Memory(10, 4, 3)
    np.testing.assert_array_equal(memory.keys.numpy(), np.zeros((10, 4)))
    np.testing.assert_array_equal(memory.values.numpy(), [1] * 5 + [0] * 5)
    np.testing.assert_array_equal(memory.ages.numpy(), np.zeros(10))
    np.testing.assert_allclose(memory.histogram.numpy(), np.full(10, 1e-5))
    assert all(not v.trainable for v in memory.weights)
    np.testing.assert_array_equal(initial_values(3), [1, 0, 0])


def test_read_matches_reference():
    rng = np.random.default_rng(0)
    state = random_state(rng)
    memory, reference = Memory(N, M, K), NumpyMemory(N, M, K)
    load(memory, state)
    reference.load(**state)
    queries = rng.normal(size=(7, M)) * 3.0  # not normalised: read normalises
    np.testing.assert_allclose(memory.read(tf.constant(queries, tf.float32)).numpy(),
                               reference.read(queries), rtol=1e-5, atol=1e-6)
    # A shared similarity pass gives the same answer.
    sim = memory.similarity(tf.constant(queries, tf.float32))
    np.testing.assert_allclose(memory.read(tf.constant(queries, tf.float32), sim).numpy(),
                               reference.read(queries), rtol=1e-5, atol=1e-6)


def test_read_is_clipped():
    memory = Memory(8, 3, 2, eps=1e-3)
    memory.values.assign(np.ones(8, np.float32))
    p = memory.read(tf.constant([[1.0, 0.0, 0.0]]))
    assert float(p[0]) == pytest.approx(1 - 1e-3)


def test_posterior_sums_to_one_and_picks_best_slots():
    rng = np.random.default_rng(1)
    state = random_state(rng)
    memory = Memory(N, M, K)
    load(memory, state)
    q = rng.normal(size=(3, M))
    slots, probs = memory.posterior(tf.constant(q, tf.float32))
    np.testing.assert_allclose(probs.numpy().sum(-1), 1.0, rtol=1e-6)
    lj = reference_log_joint(state, q)
    for b in range(3):
        np.testing.assert_array_equal(slots.numpy()[b], np.argsort(-lj[b], kind="stable")[:K])


@pytest.mark.parametrize("rule,iterations", [("em", 1), ("em", 3), ("release", 1), ("release", 3), ("kaiser", 1)])
def test_update_matches_reference_over_steps(rule, iterations):
    rng = np.random.default_rng(2)
    memory = Memory(N, M, K, update_rule=rule, em_iterations=iterations)
    reference = NumpyMemory(N, M, K, update_rule=rule, em_iterations=iterations)
    state = random_state(rng)
    load(memory, state)
    reference.load(**state)
    for _ in range(6):
        # Clustered queries so several samples share slots within a batch.
        centres = rng.normal(size=(3, M))
        queries = centres[rng.integers(0, 3, 8)] + 0.1 * rng.normal(size=(8, M))
        labels = (rng.random(8) < 0.5).astype(np.float32)
        memory.update(tf.constant(queries, tf.float32), tf.constant(labels))
        reference.update(queries, labels)
        assert_same_state(memory, reference, atol=2e-5)


@pytest.mark.parametrize("rule,iterations", [("em", 1), ("em", 3), ("release", 1), ("kaiser", 1)])
def test_last_batch_write_matches_reference_with_slot_collisions(rule, iterations):
    """batch_write="last" (the release): per-sample rows from the pre-step memory, later rows
    replace earlier ones. Clustered queries make several samples share slots in every batch,
    and random labels make some of them resets."""
    rng = np.random.default_rng(12)
    memory = Memory(N, M, K, update_rule=rule, em_iterations=iterations, batch_write="last")
    reference = NumpyMemory(N, M, K, update_rule=rule, em_iterations=iterations, batch_write="last")
    state = random_state(rng)
    load(memory, state)
    reference.load(**state)
    collisions = 0
    for _ in range(6):
        centres = rng.normal(size=(2, M))
        queries = centres[rng.integers(0, 2, 10)] + 0.05 * rng.normal(size=(10, M))
        labels = (rng.random(10) < 0.5).astype(np.float32)
        plan = memory.plan_update(tf.constant(queries, tf.float32), tf.constant(labels))
        chosen = plan.slots.numpy()[plan.valid.numpy()]
        collisions += len(chosen) - len(np.unique(chosen))
        memory.update(tf.constant(queries, tf.float32), tf.constant(labels))
        reference.update(queries, labels)
        assert_same_state(memory, reference, atol=2e-5)
    assert collisions > 0


@pytest.mark.parametrize("batch_write", ["sum", "last"])
def test_release_d_step_writes_share_the_oldest_slots_and_match_reference(batch_write):
    """The release's D step: the real and the generated batch are planned from the same
    memory and written one after the other, both drawing resets from the oldest slots
    before the step (sample b takes the b-th), so a generated reset replaces the real
    reset of the same index. Checked against the loop-based reference, with collisions."""
    rng = np.random.default_rng(21)
    memory = Memory(N, M, K, update_rule="release", batch_write=batch_write, fill_empty=False)
    reference = NumpyMemory(N, M, K, update_rule="release", batch_write=batch_write, fill_empty=False)
    state = random_state(rng)
    load(memory, state)
    reference.load(**state)
    shared = 0
    for _ in range(5):
        real, fake = rng.normal(size=(2, 8, M))
        ones, zeros = np.ones(8, np.float32), np.zeros(8, np.float32)
        plans = [memory.plan_update(tf.constant(q, tf.float32), tf.constant(y)) for q, y in ((real, ones), (fake, zeros))]
        reference_plans = [reference.plans(real, ones), reference.plans(fake, zeros)]
        planned_keys = reference.keys.copy()
        oldest = memory.oldest_slots(8)
        np.testing.assert_array_equal(oldest.numpy(), np.argsort(-reference.ages, kind="stable")[:8])
        for plan, reference_plan, age_by in zip(plans, reference_plans, (2.0, 0.0)):
            memory.apply_update(plan, oldest, age_by)
            reference.write(reference_plan, oldest.numpy(), planned_keys, age_by)
        assert_same_state(memory, reference, atol=2e-5)
        shared += int(np.sum(plans[0].reset.numpy() & plans[1].reset.numpy()))
    assert shared > 0  # some real and generated sample of one index both reset


def test_release_d_step_from_a_fresh_memory_in_either_order():
    """What the release's D step leaves in a fresh memory (batches of B, k > B): the real
    batch's EM rows go into the k empty real slots and every generated sample resets into
    the b-th oldest slot before the step, which is among those k. The release runs the two
    writes as independent ops (tools/release_reference.py probe: either order occurs), and
    both orders are reproduced here. Either way B of the k slots end labelled generated
    (the release, measured once: 64 real and 64 generated slots after batches of 64 with
    k = 128); real first (MemoryGAN's order), those slots hold the generated queries;
    generated first, the real rows that follow replace their keys. Without the shared
    oldest slots, k real and B generated slots would remain. Every slot either write
    touched is new and every other slot 2 older, as after the release's two age
    increments."""
    size, key_dim, k, batch = 64, 4, 16, 6
    rng = np.random.default_rng(22)
    real, fake = rng.normal(size=(2, batch, key_dim))
    counts = {}
    for order in ("generated_first", "real_first", "unshared"):
        memory = Memory(size, key_dim, k, kappa=1.0, update_rule="release", batch_write="last", fill_empty=False)
        plans = [memory.plan_update(tf.constant(q, tf.float32), tf.constant(np.full(batch, y, np.float32)))
                 for q, y in ((real, 1.0), (fake, 0.0))]
        oldest = None if order == "unshared" else memory.oldest_slots(batch)
        first, second = (plans[1], plans[0]) if order == "generated_first" else plans
        ages_by = (1.0, 1.0) if order == "unshared" else (2.0, 0.0)
        memory.apply_update(first, oldest, ages_by[0])
        memory.apply_update(second, oldest, ages_by[1])
        ages = memory.ages.numpy()
        written = ages < (1 if order != "unshared" else 2)
        values = memory.values.numpy()
        counts[order] = (int(np.sum(written & (values == 1))), int(np.sum(written & (values == 0))))
        if order != "unshared":
            np.testing.assert_array_equal(np.unique(ages), [0.0, 2.0])
            generated_keys = memory.keys.numpy()[written & (values == 0)]
            fake_unit = fake / np.linalg.norm(fake, axis=1, keepdims=True)
            holds_fake = np.isclose(np.abs(generated_keys @ fake_unit.T).max(axis=1), 1.0, atol=1e-5)
            assert holds_fake.all() if order == "real_first" else not holds_fake.any()
    assert counts["generated_first"] == counts["real_first"] == (k - batch, batch)
    assert counts["unshared"] == (k, batch)


def test_last_batch_write_differs_from_sum_and_depends_on_order():
    """The two semantics are not the same function: "last" moves a shared slot towards the
    last sample only, so reversing the batch changes the memory; "sum" does not."""
    rng = np.random.default_rng(13)
    state = random_state(rng)
    state["values"] = np.ones(N)  # every slot real: no resets, whose slots follow batch order
    centre = rng.normal(size=M)
    queries = centre + 0.3 * rng.normal(size=(6, M))
    labels = np.ones(6, np.float32)
    results = {}
    for mode in ("sum", "last"):
        for order in (slice(None), slice(None, None, -1)):
            memory = Memory(N, M, K, batch_write=mode, kappa=5.0)
            load(memory, state)
            memory.update(tf.constant(queries[order], tf.float32), tf.constant(labels[order]))
            results[mode, order.step] = memory.keys.numpy()
    np.testing.assert_allclose(results["sum", None], results["sum", -1], atol=1e-6)
    assert np.abs(results["last", None] - results["last", -1]).max() > 1e-3
    assert np.abs(results["last", None] - results["sum", None]).max() > 1e-3


@pytest.mark.parametrize("fill_empty", [True, False])
@pytest.mark.parametrize("batch_write", ["sum", "last"])
def test_update_from_initial_state_matches_reference(fill_empty, batch_write):
    rng = np.random.default_rng(3)
    memory = Memory(N, M, K, fill_empty=fill_empty, batch_write=batch_write)
    reference = NumpyMemory(N, M, K, fill_empty=fill_empty, batch_write=batch_write)
    for _ in range(5):
        queries = rng.normal(size=(6, M))
        labels = np.array([1, 1, 1, 0, 0, 0], np.float32)
        memory.update(tf.constant(queries, tf.float32), tf.constant(labels))
        reference.update(queries, labels)
        assert_same_state(memory, reference)


def test_conditional_top_k_uses_only_slots_of_the_label():
    rng = np.random.default_rng(4)
    state = random_state(rng)
    memory = Memory(N, M, K)
    load(memory, state)
    q = rng.normal(size=(4, M))
    for label in (0.0, 1.0):
        plan = memory.plan_update(tf.constant(q, tf.float32), tf.fill([4], label))
        chosen = state["values"][plan.slots.numpy()]
        assert np.all(chosen == label)
        # They are the best slots of that label by the joint p(x|c)p(c).
        lj = reference_log_joint(state, q)
        lj[:, state["values"] != label] = -np.inf
        for b in range(4):
            np.testing.assert_array_equal(plan.slots.numpy()[b], np.argsort(-lj[b], kind="stable")[:K])


def test_reset_path_writes_query_into_oldest_slot():
    memory = Memory(6, 2, 2)
    keys = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [0.6, 0.8], [0.8, -0.6]], np.float32)
    memory.keys.assign(keys)
    memory.values.assign([1, 1, 1, 0, 0, 0])
    memory.ages.assign([3, 9, 1, 4, 2, 0])
    memory.histogram.assign([4, 2, 3, 1, 1, 1])
    # Fake query right on a real slot: its top-1 slot (0) has the wrong label -> reset.
    q = np.array([[2.0, 0.0]], np.float32)
    memory.update(tf.constant(q), tf.constant([0.0]))
    np.testing.assert_allclose(memory.keys.numpy()[1], [1.0, 0.0])  # slot 1 was the oldest
    assert memory.values.numpy()[1] == 0.0
    assert memory.histogram.numpy()[1] == pytest.approx(2.0)  # mean of h before the write
    np.testing.assert_array_equal(memory.ages.numpy(), [4, 0, 2, 5, 3, 1])
    # Untouched slots keep their keys.
    np.testing.assert_array_equal(memory.keys.numpy()[[0, 2, 3, 4, 5]], keys[[0, 2, 3, 4, 5]])


def test_two_resets_in_one_batch_get_distinct_slots():
    memory = Memory(8, 2, 2)
    memory.keys.assign(np.tile([[1.0, 0.0]], (8, 1)).astype(np.float32))
    memory.values.assign(np.ones(8, np.float32))
    memory.ages.assign([0, 5, 0, 7, 0, 0, 0, 0])
    q = np.array([[0.0, 1.0], [0.0, -1.0]], np.float32)
    memory.update(tf.constant(q), tf.constant([0.0, 0.0]))
    np.testing.assert_allclose(memory.keys.numpy()[3], [0.0, 1.0])  # first reset, oldest slot
    np.testing.assert_allclose(memory.keys.numpy()[1], [0.0, -1.0])  # second reset, next oldest
    np.testing.assert_array_equal(memory.values.numpy()[[1, 3]], [0, 0])


def test_em_step_moves_key_towards_query_with_eq5():
    memory = Memory(4, 2, 1, alpha=0.5)
    memory.keys.assign(np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.float32))
    memory.values.assign([1, 1, 0, 0])
    memory.histogram.assign([2.0, 1.0, 1.0, 1.0])
    q = np.array([0.6, 0.8], np.float32)
    memory.update(tf.constant([q]), tf.constant([1.0]))
    # k = 1: gamma = 1 on the nearest real slot (slot 1, cos 0.8 vs 0.6 but h 1 vs 2: joint
    # exp(-0.2) * 1 < exp(-0.4) * 2, so slot 0). h = 0.5 * 2 + 1 = 2, K = K + (q - K) / 2.
    expected = np.array([1, 0]) + (q - np.array([1, 0])) / 2.0
    np.testing.assert_allclose(memory.keys.numpy()[0], expected / np.linalg.norm(expected), atol=1e-6)
    assert memory.histogram.numpy()[0] == pytest.approx(2.0)
    np.testing.assert_array_equal(memory.ages.numpy(), [0, 1, 1, 1])


def test_update_is_independent_of_batch_order():
    rng = np.random.default_rng(5)
    state = random_state(rng, size=64)
    queries = np.repeat(rng.normal(size=(3, M)), 4, axis=0) + 0.01 * rng.normal(size=(12, M))
    labels = np.ones(12, np.float32)
    results = []
    for perm in (np.arange(12), rng.permutation(12)):
        memory = Memory(64, M, K)
        load(memory, state)
        memory.values.assign(np.ones(64, np.float32))  # no resets: pure EM
        memory.update(tf.constant(queries[perm], tf.float32), tf.constant(labels[perm]))
        results.append(tf_state(memory))
    for name in results[0]:
        np.testing.assert_allclose(results[0][name], results[1][name], atol=1e-6, err_msg=name)


def test_invariants_after_many_updates():
    rng = np.random.default_rng(6)
    memory = Memory(128, 8, 8)
    total = memory.histogram.numpy().sum()
    for _ in range(20):
        queries = rng.normal(size=(16, 8))
        labels = np.r_[np.ones(8), np.zeros(8)].astype(np.float32)
        memory.update(tf.constant(queries, tf.float32), tf.constant(labels))
    keys = memory.keys.numpy()
    norms = np.linalg.norm(keys, axis=1)
    written = norms > 0
    assert written.sum() > 16
    np.testing.assert_allclose(norms[written], 1.0, atol=1e-5)
    assert np.all(memory.histogram.numpy() > 0)
    assert memory.histogram.numpy().sum() > total
    assert set(np.unique(memory.values.numpy())) <= {0.0, 1.0}
    ages = memory.ages.numpy()
    assert ages.min() == 0 and ages.max() <= 20 and np.all(ages == np.round(ages))


def test_histogram_mass_grows_by_posterior_mass():
    """With no resets and alpha = 1, EM adds exactly one unit of mass per sample (Eq. 5)."""
    rng = np.random.default_rng(7)
    state = random_state(rng, size=32)
    memory = Memory(32, M, 4, alpha=1.0)
    load(memory, state)
    memory.values.assign(np.ones(32, np.float32))
    before = memory.histogram.numpy().sum()
    memory.update(tf.constant(rng.normal(size=(5, M)), tf.float32), tf.ones([5]))
    assert memory.histogram.numpy().sum() == pytest.approx(before + 5.0, rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_sample_keys_frequencies_follow_h_times_v(temperature):
    """Slots are drawn with probability h v / sum(h v) (Sec. 3.2), or (h v)^(1/T) normalised
    with a prior temperature T."""
    memory = Memory(16, 3, 2, prior_temperature=temperature)
    rng = np.random.default_rng(8)
    hist = rng.uniform(0.5, 4.0, 16).astype(np.float32)
    values = np.zeros(16, np.float32)
    real = [0, 2, 3, 7, 8, 11, 13, 15]
    values[real] = 1.0
    memory.histogram.assign(hist)
    memory.values.assign(values)
    memory.keys.assign(rng.normal(size=(16, 3)).astype(np.float32))
    n = 40000
    slots, keys = memory.sample_keys(n, seed=tf.constant([1, 2]))
    slots = slots.numpy()
    np.testing.assert_array_equal(keys.numpy(), memory.keys.numpy()[slots])
    assert set(slots) <= set(real)
    mass = (hist.astype(np.float64) * values) ** (1.0 / temperature)
    expected = n * mass / mass.sum()
    counts = np.bincount(slots, minlength=16)
    chi2 = np.sum((counts[real] - expected[real]) ** 2 / expected[real])
    assert chi2 < 24.32  # chi-square, 7 degrees of freedom, p = 0.001
    # Seeded draws are reproducible.
    again, _ = memory.sample_keys(n, seed=tf.constant([1, 2]))
    np.testing.assert_array_equal(again.numpy(), slots)
    if temperature != 1.0:  # the flatter prior is measurably flatter than h v itself
        paper = n * hist * values / (hist * values).sum()
        assert np.sum((counts[real] - paper[real]) ** 2 / paper[real]) > 100.0


def test_no_gradient_flows_into_memory():
    rng = np.random.default_rng(9)
    memory = Memory(N, M, K)
    state = random_state(rng)
    state["values"] = (np.arange(N) % 2).astype(np.float64)  # mixed labels: p(y|x) not clipped
    state["histogram"] = np.ones(N)
    load(memory, state)
    q = tf.Variable(rng.normal(size=(4, M)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([v.value for v in memory.weights])  # watched, yet stop_gradient cuts them off
        p = memory.read(q)
        loss = tf.reduce_sum(tf.math.log(p)) + tf.reduce_sum(memory.log_likelihood(q))
    grads = tape.gradient(loss, [v.value for v in memory.weights] + [q])
    assert all(g is None for g in grads[:-1])
    assert grads[-1] is not None and np.abs(grads[-1].numpy()).sum() > 0
    assert all(not v.trainable for v in memory.weights)


def test_log_likelihood_matches_release_formula():
    rng = np.random.default_rng(10)
    state = random_state(rng)
    memory = Memory(N, M, K)
    load(memory, state)
    q = rng.normal(size=(3, M))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    mass = state["histogram"] * state["values"] + 1e-8
    want = np.log(np.sum(np.exp(qn @ state["keys"].T - 1.0) / np.sqrt(2 * np.pi) * mass / mass.sum(), axis=1))
    np.testing.assert_allclose(memory.log_likelihood(tf.constant(q, tf.float32)).numpy(), want, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(choose_k=100), dict(update_rule="bogus"), dict(size=0),
                                    dict(correct_in_top=9), dict(prior_temperature=0.0),
                                    dict(prior_temperature=float("inf"))])
def test_bad_arguments_are_rejected(kwargs):
    args = dict(size=50, key_dim=4, choose_k=5)
    args.update(kwargs)
    with pytest.raises(ValueError):
        Memory(**args)


def test_constructor_defaults_are_the_declared_options():
    """One default per argument: the options' declaration, which the flags' defaults are too
    (kappa: the paper's 1; the 28/40-pixel data sets' 10 is MemoryGAN's preset there)."""
    declared = {f.name: f.default for f in dataclasses.fields(MemoryGANOptions)}
    for name, parameter in inspect.signature(Memory.__init__).parameters.items():
        if parameter.default is not inspect.Parameter.empty:
            assert parameter.default == declared[name], name
    assert Memory(4, 2, 1).kappa == declared["kappa"] == configs.ModelConfig().kappa == 1.0
    assert configs.make_config("cifar10").model.kappa == 1.0
    assert configs.make_config("fashion_mnist").model.kappa == DATASET_PRESETS["fashion_mnist"]["kappa"] == 10.0


@pytest.mark.parametrize("kwargs,flag", [(dict(choose_k=300), "choose_k"), (dict(kappa=0.0), "kappa"),
                                         (dict(update_rule="bogus"), "update_rule"), (dict(alpha=1.5), "alpha")])
def test_bad_arguments_fail_as_the_flags_do(kwargs, flag):
    """The constructor's checks are the options' rules: the same message as the flag's."""
    with pytest.raises(ValueError) as from_memory:
        Memory(**dict(dict(size=256, key_dim=4, choose_k=5), **kwargs))
    overrides = {"memory_size": 256, "choose_k": 5, **kwargs}
    with pytest.raises(configs.ConfigError) as from_flags:
        configs.make_config("fashion_mnist", model_overrides=overrides, train_overrides=dict(batch_size=8))
    assert str(from_memory.value) == str(from_flags.value) and str(from_flags.value).startswith(f"--{flag}: ")


def test_empty_memory_is_filled_with_distinct_queries():
    """fill_empty: the first real batch lands in distinct slots instead of k identical ones."""
    rng = np.random.default_rng(11)
    queries = rng.normal(size=(4, M))
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    memory = Memory(N, M, K)
    memory.update(tf.constant(queries, tf.float32), tf.ones([4]))
    written = memory.keys.numpy()[:4]
    np.testing.assert_allclose(written, unit, atol=1e-6)
    assert np.all(memory.values.numpy()[:4] == 1.0)
    # The release's behaviour: every sample averaged into the same k slots, all identical.
    release = Memory(N, M, K, fill_empty=False)
    release.update(tf.constant(queries, tf.float32), tf.ones([4]))
    keys = release.keys.numpy()
    nonzero = keys[np.linalg.norm(keys, axis=1) > 0]
    assert len(nonzero) == K
    np.testing.assert_allclose(nonzero, np.repeat(nonzero[:1], K, axis=0), atol=1e-6)


def test_read_and_plan_equals_read_then_plan():
    rng = np.random.default_rng(12)
    memory = Memory(N, M, K)
    load(memory, random_state(rng))
    q = tf.constant(rng.normal(size=(6, M)), tf.float32)
    y = tf.constant([1, 0, 1, 0, 1, 1], tf.float32)
    p, plan = memory.read_and_plan(q, y)
    np.testing.assert_allclose(p.numpy(), memory.read(q).numpy(), rtol=1e-6)
    for got, want in zip(plan, memory.plan_update(q, y)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("kappa", [1.0, 30.0])
def test_write_statistics_match_reference(kappa):
    rng = np.random.default_rng(7)
    state = random_state(rng)
    memory = Memory(N, M, K, kappa=kappa)
    load(memory, state)
    reference = NumpyMemory(N, M, K, kappa=kappa)
    reference.load(**state)
    queries = rng.normal(size=(12, M))
    labels = (np.arange(12) % 2).astype(np.float64)
    reset_rate, entropy = memory.write_statistics(
        memory.plan_update(tf.constant(queries, tf.float32), tf.constant(labels, tf.float32)))
    want_rate, want_entropy = reference.write_statistics(queries, labels)
    assert 0.0 < want_rate < 1.0  # both kinds of sample are in the batch
    assert float(reset_rate) == pytest.approx(want_rate)
    assert float(entropy) == pytest.approx(want_entropy, rel=1e-4, abs=1e-5)
    assert 0.0 <= float(entropy) <= np.log(K) + 1e-6
    if kappa == 1.0:  # flat likelihood: the posterior within S_y follows h alone
        assert float(entropy) > 0.5


def test_write_statistics_of_a_one_slot_posterior_is_zero():
    memory = Memory(4, 2, 2, kappa=50.0)
    memory.keys.assign(np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.float32))
    memory.values.assign([1, 1, 0, 0])
    memory.histogram.assign([1, 1, 1, 1])
    plan = memory.plan_update(tf.constant([[1.0, 0.0]]), tf.constant([1.0]))
    reset_rate, entropy = memory.write_statistics(plan)
    assert float(reset_rate) == 0.0
    # slot 0 has cosine 1, slot 1 cosine 0: posterior (1, e^-50) -> entropy ~ 50 e^-50
    assert float(entropy) == pytest.approx(0.0, abs=1e-12)
