"""Atomic, resumable training backups: `AtomicBackupAndRestore`.

A run killed at any moment restarts from its newest complete save (weights,
optimizer state, the epochs its data stream had served and the seconds of
training behind it), and the workers of a multi-worker run resume together.
"""

import json
import logging
import os
import shutil
import time

import keras

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
