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
import math
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

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
        raise ValueError(f"Unknown KL annealing schedule {schedule!r}. Valid schedules: {', '.join(SCHEDULES)}.")
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


class KLAnnealing(keras.callbacks.Callback):
    """Sets `model.beta` before every training batch from a schedule of the optimizer step.

    Keras calls batch callbacks once per `steps_per_execution` steps, so beta
    is updated that often (every 32 steps by default for vae-zoo models).

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

    def on_train_begin(self, logs=None):
        if not getattr(self.model, "uses_kl_weight", True):
            objective = getattr(self.model, "objective", None)
            detail = f"objective={objective!r}"
            if getattr(self.model, "capacity", None) is not None:
                detail = f"the capacity objective (capacity={self.model.capacity!r}, weighted by gamma)"
            raise ValueError(
                f"KL annealing sets model.beta, the KL weight of the ELBO, but this {type(self.model).__name__} "
                f"trains {detail}, which has no beta-weighted KL term; drop KL annealing or use objective='elbo'"
            )

    def _update(self):
        step = int(self.model.optimizer.iterations.numpy())
        self.model.beta.assign(kl_weight(step, self.schedule, self.steps, self.max_beta, self.cycles, self.ratio))

    def on_train_batch_begin(self, batch, logs=None):
        self._update()

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
            tf.summary.image("samples", self.model.sample(self.num_samples, seed=self.seed), max_outputs=self.num_samples)
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
            print(f"\nBatch {batch}: the loss is {np.asarray(loss).ravel()[0]}; training stopped. {self.ADVICE}.")
            self.model.stop_training = True
            self.model.nan_stopped = True


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose saves are atomic.

    Keras rewrites `latest.weights.h5` in place, so a run killed while it
    writes (SIGKILL, out of memory, preemption) leaves a truncated file that
    the restarted run cannot open ("bad object header version number").
    Here each save goes into a new directory `save-<epoch>-<batch>` (weights
    and epoch together), and then the symlink `latest` is swapped to it with
    `os.replace`, which is atomic on POSIX: `latest` always names a complete
    save, and the restart resumes from the last one. Older saves are removed
    after the swap. A backup directory in Keras's own layout is still read.
    """

    def __init__(self, backup_dir, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self._link = os.path.join(backup_dir, "latest")
        if os.path.lexists(self._link) or not os.path.exists(self._weights_path):
            self._weights_path = os.path.join(self._link, "latest.weights.h5")
            self._training_metadata_path = os.path.join(self._link, "training_metadata.json")

    def _save_model(self):
        name = f"save-{self._current_epoch:06d}-{self._last_batch_seen:09d}"
        target = os.path.join(self.backup_dir, name)
        if os.path.exists(target):  # left by a run killed before its swap
            shutil.rmtree(target)
        os.makedirs(target)
        self.model.save_weights(os.path.join(target, "latest.weights.h5"), overwrite=True)
        with open(os.path.join(target, "training_metadata.json"), "w") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
            f.flush()
            os.fsync(f.fileno())
        staged = self._link + ".new"
        if os.path.lexists(staged):
            os.remove(staged)
        os.symlink(name, staged)
        os.replace(staged, self._link)
        self._weights_path = os.path.join(self._link, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self._link, "training_metadata.json")
        for entry in os.listdir(self.backup_dir):
            if entry != name and (entry.startswith("save-") or entry in ("latest.weights.h5", "training_metadata.json")):
                path = os.path.join(self.backup_dir, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
