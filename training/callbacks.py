"""Keras callbacks for VAE training: KL annealing, image summaries, NaN guard, the history CSV.

The atomic, resumable backup is its own concept, in `vae_zoo.training.backup`.

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

import math
import os

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.models import VAE

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
