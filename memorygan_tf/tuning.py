"""Hyper-parameter search with keras-tuner: each trial a short training run scored by FID.

The search space is not a second list: every config field declared with
``configs.option(..., search=Range(...) | Choice(...))`` is searchable, under its flag
name. :class:`MemoryGANHyperModel` turns a trial's values into an ExperimentConfig,
``build`` makes the model (trainer.build_model) and ``fit`` trains it in the trial's
own run directory (so an interrupted trial resumes from its checkpoints), scores it
with the evaluation classifier and returns ``{"fid": ..., "inception_score": ...}``,
the objective keras-tuner minimises. The tuner's directory holds the oracle's state, so
rerunning the same search continues it. :func:`write_flagfile` turns the best trial
into a flagfile for ``python -m memorygan_tf.main --flagfile=...``.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

import keras_tuner as kt
import tensorflow as tf

from memorygan_tf import configs, evaluation, trainer

TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVE = "fid"


class Searchable(NamedTuple):
    """One searchable config field: where it lives, its flag, its Python type, its space."""
    section: str
    name: str
    flag: str
    kind: type
    spec: object  # configs.Range | configs.Choice


def search_space(flags=None, model="memorygan"):
    """A Searchable per searchable config field of `model` (its own options and the
    generic ones), or per flag named in `flags`. Raises ConfigError for a flag that is
    not searchable for that model."""
    space = [Searchable(section, name, flag, kind, field.metadata["search"])
             for section, name, flag, kind, field in configs.flag_fields()
             if field.metadata.get("search") and configs.belongs_to(field, model)]
    if flags is None:
        return space
    by_flag = {entry.flag: entry for entry in space}
    unknown = [f for f in flags if f not in by_flag]
    if unknown:
        raise configs.ConfigError("search", f"not searchable for --model={model}: {', '.join(unknown)}; "
                                  f"searchable: {', '.join(by_flag)}")
    return [by_flag[f] for f in flags]


def declare(hp, space):
    """Declares the space in a keras_tuner HyperParameters; returns {flag: value}."""
    values = {}
    for _, _, flag, kind, spec in space:
        if kind is bool:
            values[flag] = hp.Boolean(flag, default=False)
        elif isinstance(spec, configs.Choice):
            values[flag] = hp.Choice(flag, list(spec.values))
        elif kind is int:
            values[flag] = hp.Int(flag, int(spec.low), int(spec.high), sampling="log" if spec.log else "linear")
        else:
            values[flag] = hp.Float(flag, spec.low, spec.high, sampling="log" if spec.log else "linear")
    return values


def overrides_from(values, space):
    """{section: {field: value}} from {flag: value}."""
    out = {"model": {}, "optimizer": {}, "train": {}}
    for section, name, flag, _, _ in space:
        if flag in values:
            out[section][name] = values[flag]
    return out


class MemoryGANHyperModel(kt.HyperModel):
    """A trial = config from the trial's values + `base` overrides, trained `epochs`
    (or Hyperband's epochs), scored by FID of `eval_samples` generated images."""

    def __init__(self, dataset, base, space, images, test_set, classifier, epochs=1, eval_samples=5000,
                 verbose="auto", log=print):
        super().__init__(name="memorygan")
        self.dataset, self.base, self.space = dataset, base, space
        self.images, self.test_set, self.classifier = images, test_set, classifier
        self.epochs, self.eval_samples, self.verbose, self.log = epochs, eval_samples, verbose, log
        self.test_features = None  # the test set is classified once for all trials

    def config(self, hp, logdir="unused", epochs=None):
        sections = overrides_from(declare(hp, self.space), self.space)
        for section in sections:
            sections[section] = {**self.base.get(section, {}), **sections[section]}
        sections["train"].update(logdir=logdir, epochs=epochs or self.epochs)
        try:
            return configs.make_config(self.dataset, sections["model"], sections["optimizer"], sections["train"])
        except configs.ConfigError as err:  # a combination the model does not allow
            raise kt.errors.FailedTrialError(str(err)) from None

    def build(self, hp):
        config = self.config(hp)
        return trainer.build_model(config, tf.distribute.get_strategy(), total_steps=1)

    def fit(self, hp, model, *args, callbacks=(), epochs=None, **kwargs):
        # keras-tuner hands every trial a callback that knows the trial's directory.
        weights = next(c.filepath for c in callbacks if hasattr(c, "filepath"))
        trial_dir = os.path.dirname(weights)
        config = self.config(hp, os.path.join(trial_dir, "run"), epochs)
        self.log(f"Trial {os.path.basename(trial_dir)}: " + ", ".join(
            f"{k}={v}" for k, v in hp.values.items() if not k.startswith("tuner/")))
        if int(model.step.numpy()):  # Hyperband loaded the parent trial's weights
            self.log(f"  continues from step {int(model.step.numpy())} (the parent trial's weights)")
        try:
            model = trainer.train(config, self.images, verbose=self.verbose, log=self.log, model=model)
        except trainer.TrainingDiverged as err:
            raise kt.errors.FailedTrialError(str(err)) from None
        if self.test_features is None:
            self.test_features = evaluation.reference_features(self.classifier, self.test_set[0])
        result = evaluation.evaluate_model(model, self.classifier, *self.test_set, num_samples=self.eval_samples,
                                           test_features=self.test_features)
        model.save_weights(weights)  # Hyperband continues a promoted trial from these
        with open(os.path.join(trial_dir, "evaluation.json"), "w") as f:
            json.dump(dict(result, values=hp.values), f, indent=1)
        self.log(f"  FID {result['fid']:.3f}, IS {result['inception_score']:.3f}")
        return {OBJECTIVE: result["fid"], "inception_score": result["inception_score"]}


def make_tuner(kind, hypermodel, directory, project, max_trials, max_epochs=3, seed=0):
    """A keras_tuner tuner minimising FID; continues the search stored in directory/project."""
    objective = kt.Objective(OBJECTIVE, direction="min")
    common = dict(objective=objective, directory=directory, project_name=project, overwrite=False, seed=seed)
    if kind == "random":
        return kt.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if kind == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    if kind == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, **common)
    raise configs.ConfigError("tuner", f"unknown tuner {kind!r}; choose one of {', '.join(TUNERS)}")


def flag_line(flag, value):
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no{flag}"
    return f"--{flag}={value}"


def write_flagfile(path, dataset, values, space, extra=(), comment=(), model="memorygan"):
    """A flagfile for main: a header naming the tuned `model`, the data set and --model (a
    flagfile without it would train a MemoryGAN with another model's tuned values), `extra`
    flag lines, then the searched values."""
    flags_by_name = {entry.flag for entry in space}
    lines = [f"# Tuned model: {model}"] + [f"# {line}" for line in comment]
    lines += [f"--dataset={dataset}", f"--model={model}", *extra]
    lines += [flag_line(flag, value) for flag, value in values.items() if flag in flags_by_name]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def best_trial(tuner):
    """(values, score) of the best finished trial, or None."""
    trials = tuner.oracle.get_best_trials(1)
    if not trials or trials[0].score is None:
        return None
    return dict(trials[0].hyperparameters.values), trials[0].score
