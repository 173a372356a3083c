"""A run directory that cannot be lost: its identity, one process at a time, surviving checkpoints.

The resume contract (README "Resume"):

* ``config.json`` is the run's identity. Rerunning in a directory that holds a
  checkpoint takes the saved value of every flag the user did not give; a given flag
  that changes a FREE field (epochs, logging, checkpoint frequency, learning rate, ...)
  is applied and recorded in ``config.json``'s ``history`` with the step it took
  effect at; one that changes a FIXED field (the model, the memory or their
  semantics) is refused, unless ``--override_config`` is given, and even then fields
  that set the shape of a checkpointed variable are refused.
* Checkpoints: the newest one that loads is restored; broken ones are skipped with a
  message. While checkpoint files exist a run never starts again from step 0.
* :class:`RunLock`: one process per run directory (an advisory ``flock`` that the
  kernel drops when its process dies, so a crash leaves no stale lock).
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import glob
import json
import os
import re
import socket
import time

from memorygan_tf import configs

CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d+)\.index$")


def checkpoint_name(step):
    """The file name prefix of step `step`'s checkpoint (as tf.train.CheckpointManager writes it)."""
    return f"ckpt-{int(step)}"


def _flag(section, name):
    for s, n, flag, _, _ in configs.flag_fields():
        if (s, n) == (section, name):
            return flag
    return name


def _resume_kind(section, name):
    cls = configs.SECTIONS[section]
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field.metadata.get("resume", configs.FIXED)


def resume_config(saved, requested, explicit, override=False):
    """The config of a resumed run and what changed.

    `saved` is the run's config.json, `requested` the config built from the command
    line, `explicit` the (section, field) pairs the user gave. Fields not given keep
    their saved values. Returns (config, changes) with changes {flag: [old, new]};
    raises configs.ConfigError for a refused change.
    """
    sections = {}
    changes = {}
    refused = []
    shape = configs.shape_fields()  # declared with the options (shape=True): never changed on resume
    for section, cls in configs.SECTIONS.items():
        values = {}
        for field in dataclasses.fields(cls):
            old = getattr(getattr(saved, section), field.name)
            new = getattr(getattr(requested, section), field.name)
            key = (section, field.name)
            if key not in explicit or old == new or field.name == "logdir":
                values[field.name] = old if field.name != "logdir" else new
                continue
            flag = _flag(section, field.name)
            if _resume_kind(section, field.name) == configs.FIXED and (not override or key in shape):
                refused.append((flag, old, new, key in shape))
                values[field.name] = old
                continue
            values[field.name] = new
            changes[flag] = [old, new]
        sections[section] = cls(**values)
    if refused:
        described = ", ".join(f"--{flag}={new} (saved: {old})" for flag, old, new, _ in refused)
        if any(shape for *_, shape in refused):
            hint = "these change the shape of checkpointed variables; start a new run with another --logdir"
        else:
            hint = "pass --override_config to apply them from the current step, or use another --logdir"
        raise configs.ConfigError(refused[0][0], f"this run was trained with other settings: {described}; {hint}")
    config = configs.ExperimentConfig(**sections)
    configs.validate(config)
    return config, changes


class RunLock:
    """One training process per run directory.

    Holds an exclusive `flock` on logdir/.lock for its lifetime; the file names the
    holder (PID, host, start time) for the error message of a second process. The
    kernel releases the lock when the holder exits or crashes.
    """

    def __init__(self, logdir):
        self.path = RunDir(logdir).lock_path
        self.file = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            self.file = open(self.path, "a+")
        except OSError as err:
            raise configs.ConfigError("logdir", f"cannot open the lock file {self.path}: "
                                      f"{err.strerror or err}") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            self.file = None
            raise configs.ConfigError(
                "logdir", f"{os.path.dirname(self.path)} is in use by {holder}; wait for it or use another --logdir"
            ) from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"PID {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        self.file.flush()
        return self

    def __exit__(self, *exc):
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None
        return False


# --------------------------------------------------------------- checkpoints
def holds_checkpoint_files(directory):
    """Whether `directory` holds any checkpoint file (an index, a data shard or the state
    file): while one exists a run must never start again from step 0 over it."""
    return bool(glob.glob(os.path.join(directory, "ckpt-*")) or os.path.exists(os.path.join(directory, "checkpoint")))


def checkpoint_files(directory):
    """[(step, path prefix)] of every ckpt-N.index in `directory`, newest first."""
    found = []
    for path in glob.glob(os.path.join(directory, "ckpt-*.index")):
        match = CHECKPOINT_PATTERN.match(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path[: -len(".index")]))
    return sorted(found, reverse=True)


ROTATION_RETRIES = 5  # re-listings when a running training rotates checkpoints away under a reader


def _rotated_away(prefix):
    """Whether checkpoint `prefix` vanished (its index deleted) after it was listed: what a
    training process with --keep_checkpoints does to its oldest while a reader reads."""
    return not os.path.exists(prefix + ".index")


def _reason(err):
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"{type(err).__name__}: {text[:160]}"


def restore_newest(checkpoint, directory, log=print, repair_state=False, partial=False):
    """Restores the newest checkpoint in `directory` that loads; returns its path or None.

    Broken checkpoints (truncated or corrupted data, missing files) are skipped with
    a message. With `repair_state` (training) the state file is rewritten to name only
    the loadable checkpoints up to the one restored, so tf.train.CheckpointManager
    continues from there; readers (export, tools) leave the directory as it is and,
    with `partial`, restore part of what the checkpoint holds (the model without its
    optimizers) without TensorFlow's warnings about the rest. Raises
    configs.ConfigError when checkpoint files exist but none loads: a run never
    silently starts again from step 0.
    """
    for attempt in range(ROTATION_RETRIES + 1):
        candidates = checkpoint_files(directory)
        skipped = []
        rotated = None
        for step, prefix in candidates:
            if not glob.glob(prefix + ".data-*"):
                if _rotated_away(prefix):
                    rotated = prefix
                    break
                skipped.append((prefix, "its .data file is missing"))
                log(f"Skipped {prefix}: its .data file is missing.")
                continue
            try:
                status = checkpoint.restore(prefix)
                if partial:  # a reader restores the model alone, not the optimizers
                    status.expect_partial()
                status.assert_existing_objects_matched()
            except Exception as err:  # noqa: BLE001 - any way a checkpoint can fail to load
                if _rotated_away(prefix):
                    rotated = prefix
                    break
                skipped.append((prefix, _reason(err)))
                log(f"Skipped {prefix}: it does not load ({_reason(err)}).")
                continue
            if repair_state:
                _repair_state(directory, prefix, [p for s, p in reversed(candidates)
                                                  if s <= step and p not in {q for q, _ in skipped}])
            return prefix
        if rotated is None:
            break
        # A training process deleted it (--keep_checkpoints) while we read: a newer one exists.
        log(f"{rotated} was rotated away by the training process while being read; reading the newest.")
    if rotated is not None:
        raise configs.ConfigError("logdir", f"the checkpoints in {directory} were rotated away {ROTATION_RETRIES + 1} "
                                  "times while being read (a training with a small --keep_checkpoints); "
                                  "try again, or read a kept one with --checkpoint")
    if candidates:
        if repair_state:
            consequence = "refusing to start again from step 0 over them"
        else:
            consequence = "pass --checkpoint=PREFIX to read another one, or check --logdir"
        raise configs.ConfigError(
            "logdir", f"none of the {len(candidates)} checkpoints in {directory} loads "
            f"(newest: {skipped[0][0]}: {skipped[0][1]}); {consequence}"
        )
    if holds_checkpoint_files(directory):
        raise configs.ConfigError(
            "logdir", f"{directory} holds checkpoint files but no ckpt-*.index (deleted?), so none loads; "
            "refusing to start again from step 0 over them: move them away to start a new run")
    return None


def _repair_state(directory, newest, paths):
    """Rewrites the state file to list `paths` (oldest first, ending in `newest`) with their
    files' times, so tf.train.CheckpointManager counts them against --keep_checkpoints and
    deletes the oldest as it saves (without times it treats them as preserved forever, and
    every resume would leave its checkpoints behind)."""
    times = [os.path.getmtime(p + ".index") for p in paths]
    import tensorflow as tf

    quiet = tf.get_logger().level
    tf.get_logger().setLevel("ERROR")  # the v1 call logs a deprecation notice
    try:
        tf.compat.v1.train.update_checkpoint_state(
            directory, newest, all_model_checkpoint_paths=paths, all_model_checkpoint_timestamps=times,
            last_preserved_timestamp=min(times) - 1.0)
    finally:
        tf.get_logger().setLevel(quiet)


# ------------------------------------------------------ reading a run directory


# What a field that a run's config.json lacks meant before the field existed (where that
# differs from today's default): a run written before the generator's moving average has
# none in its checkpoints, so it resumes, exports and evaluates without one.
LEGACY_DEFAULTS = {"model": {"g_ema_decay": 0.0}}


def config_from_dict(raw):
    """An ExperimentConfig from its JSON form, validated. Fields missing in `raw` (added to
    the code after the run was written) take their defaults; fields the code no longer
    knows are dropped, so an old run stays resumable and exportable."""
    sections = {}
    for section, cls in configs.SECTIONS.items():
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in (raw.get(section) or {}).items() if k in known}
        values = dict(LEGACY_DEFAULTS.get(section, {}), **values)
        if "image_shape" in values:
            values["image_shape"] = tuple(values["image_shape"])
        sections[section] = cls(**values)
    config = configs.ExperimentConfig(**sections)
    configs.validate(config)
    return config


REQUIRED_SECTIONS = ("model", "train")  # every config.json memorygan_tf.main wrote has them


class RunDir:
    """A run directory and its layout, the one way code reads or writes a run::

        config.json              the run's identity: the config and its history of changes
        checkpoints/ckpt-N.*     the checkpoints (checkpoints/checkpoint: the manager's state)
        eval/step_N.json         a score of step N's checkpoint (tools/evaluate.py, the study)
        eval/curve/step_N.json   the study's learning-curve score of step N
        samples/step_N.png       the sample grid at step N
        .lock                    RunLock's file (one training process at a time)

    Only file names live here; what the files hold is written by their owners
    (TensorBoard logs by callbacks.TensorBoardLogger, scores by summaries).
    """

    CONFIG = "config.json"
    CHECKPOINTS = "checkpoints"
    EVAL = "eval"
    SAMPLES = "samples"
    LOCK = ".lock"
    RESERVED = (CONFIG, CONFIG + ".tmp", LOCK, CHECKPOINTS)  # never a tool's output

    def __init__(self, path):
        self.path = os.fspath(path)

    def __repr__(self):
        return f"RunDir({self.path!r})"

    def __fspath__(self):
        return self.path

    # ------------------------------------------------------------- the layout
    @property
    def config_path(self):
        return os.path.join(self.path, self.CONFIG)

    @property
    def checkpoints(self):
        """The folder of the checkpoints."""
        return os.path.join(self.path, self.CHECKPOINTS)

    @property
    def lock_path(self):
        return os.path.join(self.path, self.LOCK)

    @property
    def samples(self):
        """The folder of the sample grids."""
        return os.path.join(self.path, self.SAMPLES)

    @property
    def evaluations(self):
        """The folder of the scores (eval/, also TensorBoard's eval/* scalars)."""
        return os.path.join(self.path, self.EVAL)

    def checkpoint(self, step):
        """The path prefix of step `step`'s checkpoint (ckpt-N)."""
        return os.path.join(self.checkpoints, checkpoint_name(step))

    def has_checkpoint(self, step):
        return os.path.exists(self.checkpoint(step) + ".index")

    def checkpoint_files(self):
        """[(step, path prefix)] of every checkpoint index, newest first."""
        return checkpoint_files(self.checkpoints)

    def holds_checkpoints(self):
        """Whether any checkpoint file exists (then the run never starts again from step 0)."""
        return holds_checkpoint_files(self.checkpoints)

    def has_config(self):
        return os.path.exists(self.config_path)

    def evaluation(self, step):
        """Where the score of step `step` is written (eval/step_N.json)."""
        return os.path.join(self.evaluations, f"step_{int(step):08d}.json")

    def curve_evaluation(self, step):
        """Where the study's learning-curve score of step `step` is written."""
        return os.path.join(self.evaluations, "curve", f"step_{int(step):08d}.json")

    def evaluation_files(self):
        """The eval/step_N.json files, oldest step first."""
        return sorted(glob.glob(os.path.join(self.evaluations, "step_*.json")))

    def sample(self, step):
        """Where the sample grid of step `step` is written as a PNG."""
        return os.path.join(self.samples, f"step_{int(step):08d}.png")

    def latest_sample(self):
        """The newest sample grid PNG, or None."""
        try:
            names = sorted(n for n in os.listdir(self.samples) if n.startswith("step_") and n.endswith(".png"))
        except OSError:
            return None
        return os.path.join(self.samples, names[-1]) if names else None

    # ------------------------------------------------------------- the config
    def load_config(self):
        """The ExperimentConfig the run was trained with.

        Raises configs.ConfigError naming config.json if it is missing, unreadable
        (truncated, not JSON, not an object) or holds values the code refuses."""
        path = self.config_path
        try:
            with open(path) as f:
                raw = json.load(f)
            if not isinstance(raw, dict) or not all(isinstance(raw.get(s, {}), dict) for s in configs.SECTIONS):
                raise ValueError(f"expected an object with the sections {', '.join(configs.SECTIONS)}, "
                                 f"got {type(raw).__name__}")
            missing = [s for s in REQUIRED_SECTIONS if s not in raw]
            if missing:  # valid JSON, but not a run's config: all defaults would be taken for it
                raise ValueError(f"it has no {' or '.join(repr(s) for s in missing)} section "
                                 f"(keys: {', '.join(sorted(raw)[:6]) or 'none'})")
            return config_from_dict(raw)
        except configs.ConfigError as err:
            raise configs.ConfigError("logdir", f"{path} holds a setting the code refuses: {err}") from None
        except (OSError, ValueError, TypeError, KeyError) as err:
            reason = (err.strerror if isinstance(err, OSError) else None) or str(err).splitlines()[0][:200]
            raise configs.ConfigError("logdir", f"{path} is unreadable ({reason}); is this a run directory "
                                      "written by memorygan_tf.main?") from None

    def read_history(self):
        try:
            with open(self.config_path) as f:
                return json.load(f).get("history", [])
        except (OSError, ValueError):
            return []

    def write_config(self, config, history=()):
        """Writes config.json (atomically), with the list of changes made on resumes."""
        os.makedirs(self.path, exist_ok=True)
        path = self.config_path
        record = dataclasses.asdict(config)
        record["history"] = list(history)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f, indent=2, sort_keys=True)
        os.replace(path + ".tmp", path)

    def record_changes(self, config, changes, step):
        """Writes the config in effect and appends {step, changes} to its history."""
        history = self.read_history()
        if changes:
            history.append({"step": int(step), "changed": changes, "time": time.strftime("%Y-%m-%d %H:%M:%S")})
        self.write_config(config, history)

    # ------------------------------------------------------------ training
    def check_writable(self):
        """Creates checkpoints/ and writes a probe file there and in the run directory itself
        (config.json, samples): a read-only or misplaced run directory fails before any
        training, not at the first checkpoint. A `.lock` that is not a file is refused too."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise configs.ConfigError("logdir", f"{self.path} is a file, not a directory")
        if os.path.lexists(self.lock_path) and not os.path.isfile(self.lock_path):
            raise configs.ConfigError("logdir", f"{self.lock_path} is not a file (the run's lock file); remove it")
        for directory in (self.checkpoints, self.path):
            probe = os.path.join(directory, f".write_probe_{os.getpid()}")
            try:
                os.makedirs(directory, exist_ok=True)
                with open(probe, "w") as f:
                    f.write("ok")
                os.remove(probe)
            except OSError as err:
                raise configs.ConfigError("logdir", f"cannot write to {directory}: {err.strerror or err}") from None

    def lock(self):
        """RunLock of this run: one training process at a time."""
        return RunLock(self.path)

    def remove_if_empty(self):
        """Removes what a failed start created (the lock and an empty checkpoints/), nothing else."""
        for path in (self.lock_path, self.checkpoints):
            try:
                os.rmdir(path) if os.path.isdir(path) else os.remove(path)
            except OSError:
                pass
        try:
            os.rmdir(self.path)
        except OSError:
            pass

    # ------------------------------------------------------------ the model
    def load_model(self, checkpoint=None, log=lambda message: None, config=None):
        """Rebuilds the run's model (models.build_compiled) and restores a checkpoint: the
        given one, else the newest that loads (broken ones are skipped, see restore_newest).
        `config` is the run's config as the caller already read (and perhaps changed, e.g.
        by :func:`configs.with_prior_temperature`) it; None reads config.json.

        Returns (model, checkpoint path). Raises configs.ConfigError (one line) for a
        missing or unloadable checkpoint."""
        import tensorflow as tf

        from memorygan_tf import models

        config = self.load_config() if config is None else config
        model = models.build_compiled(config)
        restorable = tf.train.Checkpoint(model=model)
        if checkpoint is None:
            path = restore_newest(restorable, self.checkpoints, log, partial=True)
            if path is None:
                raise configs.ConfigError("logdir", f"no checkpoint in {self.checkpoints}")
            return model, path
        if not os.path.exists(checkpoint + ".index"):
            raise configs.ConfigError("checkpoint", f"{checkpoint} is not a checkpoint (no {checkpoint}.index)")
        try:
            restorable.restore(checkpoint).expect_partial().assert_existing_objects_matched()
        except Exception as err:  # noqa: BLE001 - any way a checkpoint can fail to load
            raise configs.ConfigError("checkpoint", f"{checkpoint} does not load ({_reason(err)})") from None
        return model, checkpoint

