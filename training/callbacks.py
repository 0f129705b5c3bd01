"""Keras callbacks for VAE training: KL annealing, image summaries, NaN guard, atomic backups.

All schedules read the optimizer's step count, so a resumed run (restored
weights and optimizer state) continues the schedule where it stopped.

Example:

>>> import keras, numpy as np
>>> import vae_zoo
>>> from vae_zoo.training.callbacks import KLAnnealing
>>> model = vae_zoo.models.DenseVAE((8,), latent_dim=2, hidden_units=(8,), seed=0)
>>> model.compile(optimizer="adam", steps_per_execution=1)  # callbacks every batch
>>> x = np.random.default_rng(0).random((64, 8), dtype="float32")
>>> _ = model.fit(x, batch_size=16, epochs=1, verbose=0, callbacks=[KLAnnealing("linear", steps=8)])
>>> float(model.beta.numpy())  # 4 steps done, 4 more until beta reaches 1
0.375
"""

import json
import logging
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.models import VAE
from vae_zoo.utils.distribute import rows_of_all_replicas
from vae_zoo.utils.keras_compat import (
    BackupAndRestoreHooks,
    backup_paths,
    backup_position,
    load_backup,
    point_backup_at,
    skip_fit_epochs,
)

logger = logging.getLogger("vae_zoo.training")

SCHEDULES = ("linear", "sigmoid", "cyclical")


def kl_weight(step, schedule, steps, max_beta=1.0, cycles=4, ratio=0.5, sharpness=10.0):
    """The KL weight beta at optimizer step `step`.

    * "linear": `max_beta * min(1, step / steps)`.
    * "sigmoid": `max_beta / (1 + exp(-sharpness * (step / steps - 0.5)))` (Bowman et al. 2016).
    * "cyclical": Fu et al. 2019: `steps` split into `cycles` cycles; in each,
      beta rises linearly from 0 to `max_beta` over the first `ratio` of the
      cycle and stays at `max_beta` for the rest. After `steps`, `max_beta`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(
            f"Unknown KL annealing schedule {schedule!r}. Valid schedules: {', '.join(SCHEDULES)}."
        )
    if steps < 1:
        raise ValueError(f"annealing steps must be >= 1, got {steps}")
    progress = step / steps
    if schedule == "linear":
        return max_beta * min(1.0, progress)
    if schedule == "sigmoid":
        return max_beta / (1.0 + math.exp(-sharpness * (progress - 0.5)))
    if progress >= 1.0:
        return max_beta
    position = (progress * cycles) % 1.0
    return max_beta * min(1.0, position / ratio)


def kl_weight_tensor(step, schedule, steps, max_beta=1.0, cycles=4, ratio=0.5, sharpness=10.0):
    """`kl_weight` in TensorFlow ops of a step tensor: what the training step itself evaluates."""
    kl_weight(0, schedule, steps)  # validates
    progress = tf.cast(step, tf.float32) / float(steps)
    if schedule == "linear":
        return max_beta * tf.minimum(1.0, progress)
    if schedule == "sigmoid":
        return max_beta * tf.sigmoid(sharpness * (progress - 0.5))
    position = tf.math.floormod(progress * cycles, 1.0)
    return tf.where(progress >= 1.0, max_beta, max_beta * tf.minimum(1.0, position / ratio))


class KLAnnealing(keras.callbacks.Callback):
    """Anneals the KL weight beta by a schedule of the optimizer step, step by step.

    The schedule is handed to the model (`model.kl_schedule`) for the length of `fit`: every
    training step weighs its KL term by `kl_weight(step)` inside the compiled step, whatever
    `steps_per_execution` (Keras calls batch callbacks only once per execution: every 32 steps
    by default for vae-zoo models). `model.beta` follows for logs and validation: after each
    execution it holds the weight of the last step taken. The training function is rebuilt
    when the schedule is handed over and when it is taken back.

    Args:
        schedule: "linear", "sigmoid" or "cyclical" (see `kl_weight`).
        steps: length of the schedule in optimizer steps.
        max_beta: the final KL weight.
        cycles, ratio: for "cyclical".
    """

    def __init__(self, schedule="linear", steps=10_000, max_beta=1.0, cycles=4, ratio=0.5):
        super().__init__()
        kl_weight(0, schedule, steps)  # validates
        self.schedule, self.steps, self.max_beta = schedule, int(steps), float(max_beta)
        self.cycles, self.ratio = int(cycles), float(ratio)

    def weight(self, step):
        """beta at optimizer step `step` (a Python number)."""
        return kl_weight(step, self.schedule, self.steps, self.max_beta, self.cycles, self.ratio)

    def weight_tensor(self, step):
        """beta at optimizer step `step` (a tensor), as the training step computes it."""
        return kl_weight_tensor(step, self.schedule, self.steps, self.max_beta, self.cycles, self.ratio)

    def on_train_begin(self, logs=None):
        if not isinstance(self.model, VAE):
            raise ValueError(
                "KLAnnealing anneals the KL weight of a vae-zoo model (vae_zoo.models.*); a "
                f"{type(self.model).__name__} has none"
            )
        if not self.model.uses_kl_weight:
            detail = self.model.objective_description  # the model's own words (a BetaVAE names its capacity)
            raise ValueError(
                "KL annealing sets model.beta, the KL weight of the ELBO, but this "
                f"{type(self.model).__name__} "
                f"trains {detail}, which has no beta-weighted KL term; drop KL annealing or use "
                "objective='elbo'"
            )
        self._hand_over(self.weight_tensor)
        self._assign(int(self.model.optimizer.iterations.numpy()))

    def on_train_end(self, logs=None):
        self._hand_over(None)

    def _hand_over(self, schedule):
        self.model.kl_schedule = schedule
        self.model.make_train_function(force=True)  # a traced step keeps the schedule it was traced with

    def _assign(self, step):
        self.model.beta.assign(self.weight(max(step, 0)))

    def on_train_batch_end(self, batch, logs=None):
        self._assign(int(self.model.optimizer.iterations.numpy()) - 1)  # the weight of the last step

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = float(self.model.beta.numpy())


class ImageSummaries(keras.callbacks.Callback):
    """Writes TensorBoard image summaries of samples and reconstructions after each epoch.

    Samples use a fixed seed, reconstructions a fixed batch of `images`, so
    pictures from successive epochs are comparable.
    """

    def __init__(self, log_dir, images, num_samples=16, seed=0):
        super().__init__()
        self.log_dir = log_dir
        self.images = np.asarray(images[:num_samples])
        self.num_samples, self.seed = num_samples, seed
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        x = self.model.prepare_inputs(self.images)
        with self._writer.as_default(step=epoch):
            tf.summary.image(
                "samples", self.model.sample(self.num_samples, seed=self.seed), max_outputs=self.num_samples
            )
            pairs = tf.concat([x, self.model.reconstruct(x)], axis=2)  # input | reconstruction side by side
            tf.summary.image("reconstructions", pairs, max_outputs=self.num_samples)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


class NaNGuard(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that says what to try when the loss becomes NaN or infinite."""

    ADVICE = (
        "try a lower --learning-rate, gradient clipping (--clipnorm 1.0), float32 instead of "
        "--mixed-precision, a larger min_scale on Gaussian likelihoods, or check the data for NaN/Inf"
    )

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.all(np.isfinite(loss)):
            print(
                f"\nBatch {batch}: the loss is {np.asarray(loss).ravel()[0]}; training stopped. "
                f"{self.ADVICE}."
            )
            self.model.stop_training = True
            self.model.nan_stopped = True


class AtomicBackupAndRestore(BackupAndRestoreHooks, keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose saves are atomic, and whose workers resume together.

    Keras rewrites `latest.weights.h5` in place, so a run killed while it
    writes (SIGKILL, out of memory, preemption) leaves a truncated file that
    the restarted run cannot open ("bad object header version number").
    Here each save goes into a new directory `save-<epoch>-<batch>` (weights
    and epoch together), and then the symlink `latest` is swapped to it with
    `os.replace`, which is atomic on POSIX: `latest` always names a complete
    save. A backup directory in Keras's own layout is still read.

    The save before the last one (of an earlier epoch) is kept too: under
    MultiWorkerMirroredStrategy each worker saves its own backup, and a kill
    between two workers' saves leaves one a save of epoch k+1 and the other
    none beyond k. Restarted, they would run different numbers of steps and
    wait on each other forever. So at restore the workers exchange the epochs
    of their complete saves (one collective through the model's strategy) and
    each restores the latest epoch all of them hold (`common_epoch`); newer
    saves are dropped. Workers whose backups share no epoch start over, all.

    `data`, the dataset the run trains on, resumes where the saved run's stream was: its shuffle
    and dynamic binarization draw new keys at each epoch, counted from the dataset's creation, so a
    new process would otherwise replay the first epochs' batches. Each save records `data_epochs`,
    the epochs its stream had served; a restore skips `data` that many epochs ahead
    (`keras_compat.skip_fit_epochs`), so a run killed and resumed trains on the batches of the
    uninterrupted run. A save written before this was recorded counts 0: the stream restarts, as the
    run that wrote it restarted its own.

    Each save also records `train_seconds`, the wall-clock seconds of training behind its weights over
    all sessions (time after a session's last save, cut short by the kill, is not in it), so a resumed
    run reports its whole training time (`restored_train_seconds` plus its own); a save written before
    this was recorded makes it unknown (None) from then on.
    """

    #: Complete saves kept on disk: the latest and the newest one of an earlier epoch.
    KEEP = 2

    def __init__(self, backup_dir, data=None, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self._link = os.path.join(backup_dir, "latest")
        if os.path.lexists(self._link) or not os.path.exists(backup_paths(self)[0]):
            point_backup_at(self, self._link)
        self.data = data
        self.restored_epoch = 0
        self.restored_data_epochs = 0  # the epochs the stream had served at the restored save
        self.restored_train_seconds = 0.0  # training seconds behind the restored save; None: not recorded
        self._session_start = time.time()

    def complete_saves(self):
        """`{epoch: directory}` of the complete saves here: the one `latest` names and the older ones
        (each complete when `latest` named it); a newer directory is a save cut short. Keras's own
        layout counts as one save. The newest save of each epoch."""
        saves = {}
        if os.path.lexists(self._link):
            latest = os.readlink(self._link)
            ceiling = _save_key(latest)
            entries = sorted(entry for entry in os.listdir(self.backup_dir) if _save_key(entry) is not None)
            for entry in entries:
                if ceiling is not None and _save_key(entry) <= ceiling:
                    saves[_save_key(entry)[0]] = os.path.join(self.backup_dir, entry)
        elif os.path.exists(os.path.join(self.backup_dir, "latest.weights.h5")):
            with open(os.path.join(self.backup_dir, "training_metadata.json")) as f:
                saves[int(json.load(f)["epoch"])] = self.backup_dir
        return saves

    def on_train_begin(self, logs=None):
        self._session_start = time.time()
        saves = self.complete_saves()
        newest = sorted(saves, reverse=True)[: self.KEEP]
        row = newest + [0] * (
            self.KEEP - len(newest)
        )  # epoch 0: no save, a fresh start, held by every worker
        rows = rows_of_all_replicas(self.model.distribute_strategy, row)
        epoch = common_epoch([set(r) for r in rows.tolist()])
        if newest and epoch < newest[0]:
            logger.warning(
                "vae_zoo.training: the workers' backups hold the epochs %s; this worker resumes after epoch "
                "%d, "
                "the latest all of them hold, not %d",
                sorted(set(map(tuple, rows.tolist()))),
                epoch,
                newest[0],
            )
        self.restored_epoch, self.restored_data_epochs, self.restored_train_seconds = epoch, 0, 0.0
        if epoch == 0:
            point_backup_at(self, os.path.join(self.backup_dir, "none"))  # nothing to restore
            self._drop_saves_after(0, saves)
            return
        point_backup_at(self, saves[epoch])
        load_backup(self)
        with open(backup_paths(self)[1]) as f:
            metadata = json.load(f)
        self.restored_data_epochs = int(metadata.get("data_epochs", 0))
        self.restored_train_seconds = metadata.get("train_seconds")
        if self.data is not None:
            skip_fit_epochs(self.data, self.restored_data_epochs)
        if epoch < newest[0]:
            self._drop_saves_after(epoch, saves)

    def train_seconds(self):
        """Training seconds behind the weights now: the restored save's plus this session's (None where
        the restored save did not record its own)."""
        if self.restored_train_seconds is None:
            return None
        return round(self.restored_train_seconds + time.time() - self._session_start, 1)

    def _drop_saves_after(self, epoch, saves):
        """Points `latest` at the save of `epoch` (none for 0) and deletes the saves of later epochs."""
        if epoch:
            self._swap_link(os.path.basename(saves[epoch]))
        elif os.path.lexists(self._link):
            os.remove(self._link)
        for later, directory in saves.items():
            if later > epoch and directory != self.backup_dir:
                shutil.rmtree(directory)

    def _swap_link(self, name):
        staged = self._link + ".new"
        if os.path.lexists(staged):
            os.remove(staged)
        os.symlink(name, staged)
        os.replace(staged, self._link)

    def save_backup(self):
        """One save: a new directory `save-<epoch>-<batch>` written whole, then `latest` swapped to it."""
        kept = self.complete_saves()
        epoch, batch = backup_position(self)
        name = f"save-{epoch:06d}-{batch:09d}"
        target = os.path.join(self.backup_dir, name)
        if os.path.exists(target):  # left by a run killed before its swap
            shutil.rmtree(target)
        os.makedirs(target)
        self.model.save_weights(os.path.join(target, "latest.weights.h5"), overwrite=True)
        with open(os.path.join(target, "training_metadata.json"), "w") as f:
            data_epochs = self.restored_data_epochs + epoch - self.restored_epoch
            seconds = self.train_seconds()
            json.dump(
                {"epoch": epoch, "batch": batch, "data_epochs": data_epochs, "train_seconds": seconds}, f
            )
            f.flush()
            os.fsync(f.fileno())
        self._swap_link(name)
        point_backup_at(self, self._link)
        earlier = [e for e in kept if e < epoch and kept[e] != self.backup_dir]
        keep = {name} | {os.path.basename(kept[e]) for e in sorted(earlier, reverse=True)[: self.KEEP - 1]}
        for entry in os.listdir(self.backup_dir):
            keras_layout = entry in ("latest.weights.h5", "training_metadata.json")
            if entry not in keep and (entry.startswith("save-") or keras_layout):
                path = os.path.join(self.backup_dir, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _save_key(entry):
    """`(epoch, batch)` of a save directory's name `save-<epoch>-<batch>`, else None."""
    parts = entry.split("-")
    if len(parts) != 3 or parts[0] != "save" or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])


def common_epoch(held):
    """The latest epoch that every set in `held` (one a worker: the epochs of its saves) holds; 0 when
    none."""
    shared = set.intersection(*map(set, held)) if held else set()
    return max(shared | {0})


class HistoryCSV(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger(filename, append=True)` that never loses or repeats an epoch's row.

    Put it before the `AtomicBackupAndRestore` in the callbacks: an epoch's row is then written (and
    flushed) before that epoch's backup, so a run killed between them has the row, and the epoch is run
    again on restart. At its first epoch a (resumed) run drops the rows of that epoch and later ones,
    so the repeated epoch's row replaces the old one instead of following it.
    """

    def __init__(self, filename, separator=","):
        super().__init__(filename, separator=separator, append=True)

    def on_train_begin(self, logs=None):
        self._opened = False  # opened at the first epoch, when the epoch a resumed run starts at is known

    def on_epoch_begin(self, epoch, logs=None):
        if self._opened:
            return
        if os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                lines = f.read().splitlines(keepends=True)
            kept = lines[:1] + [line for line in lines[1:] if _row_epoch(line, self.sep) < epoch]
            if kept != lines:
                staged = self.filename + ".new"
                with open(staged, "w", newline="") as f:
                    f.writelines(kept)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(staged, self.filename)
        super().on_train_begin()
        self._opened = True


def _row_epoch(line, separator):
    """The epoch of a history row; infinite for a row cut short (no line end) or without an epoch."""
    first = line.split(separator, 1)[0]
    return int(first) if line.endswith("\n") and first.isdigit() else math.inf
