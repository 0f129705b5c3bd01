"""The one home of the private Keras and tf.distribute names vae-zoo relies on.

Keras 3 has no public hook for what these do (keras-team/keras#20585, clipping under a
strategy, one XLA loop per execution), so vae-zoo reaches into them here and nowhere else
(`tests/test_architecture.py` fails on a private name used outside this module). Each name is
listed with why it is needed, and `check()` runs when vae_zoo is imported: a Keras that renamed
or re-shaped one of them raises an `ImportError` naming the Keras version and the name, instead
of training differently without a word. `pyproject.toml` pins Keras to `KERAS_VERSIONS`, the
range the test suite has run on.

The callers see plain functions and one mixin:

* `gradient_hooks(optimizer)` / `set_gradient_hooks(optimizer, clip, all_reduce)`: read and
  replace the optimizer's per-replica clipping and gradient all-reduce;
* `KerasTrainerHooks`: the trainer methods Keras calls privately, forwarded to public-named
  methods of the model (`make_fused_function`, `build_for_fit`, `skips_symbolic_build`);
* `compiled_loss_or_metrics(model)`, `model_strategy(model)`: state that `compile` keeps privately;
* `backup_position(callback)`, `backup_paths`, `point_backup_at`, `load_backup` and the
  `BackupAndRestoreHooks` mixin (`save_backup`): the state and the save/restore of a
  `keras.callbacks.BackupAndRestore`;
* `in_multi_worker_mode(strategy)`: whether a MultiWorkerMirroredStrategy spans several workers;
* `skip_fit_epochs(dataset, epochs)`: re-keys a dataset's per-epoch randomness as `epochs` epochs
  of `Model.fit` over it would (how many iterators fit makes an epoch is not a public promise).
"""

import inspect
import os

import keras
import tensorflow as tf

#: The Keras versions the test suite has run on; `pyproject.toml` pins the same range.
KERAS_VERSIONS = ">=3.15,<3.16"

#: (owner, private method, its parameters, why vae-zoo needs it)
METHODS = (
    (
        keras.optimizers.Optimizer,
        "_clip_gradients",
        ("self", "grads"),
        "clip the all-reduced gradient under a strategy: Keras clips each replica's gradient before the "
        "all-reduce, which is not what clipnorm means on one device",
    ),
    (
        keras.optimizers.Optimizer,
        "_all_reduce_sum_gradients",
        ("self", "grads_and_vars"),
        "skip Keras's own all-reduce once the gradient was reduced before clipping",
    ),
    (
        keras.Model,
        "_make_function",
        ("self", "step_function"),
        "the TF trainer's hook that builds train/test functions: on one device with XLA a whole execution "
        "runs as one XLA loop with the input checks and training noise outside it (models/fused_steps.py)",
    ),
    (
        keras.Model,
        "_maybe_symbolic_build",
        ("self", "iterator", "data_batch"),
        "Keras reduces the first distributed batch across workers there, which fails under "
        "MultiWorkerMirroredStrategy (keras-team/keras#20585); vae-zoo models are built at construction",
    ),
    (
        keras.callbacks.BackupAndRestore,
        "_save_model",
        ("self",),
        "Keras rewrites its backup in place, so a run killed mid-save cannot resume; the atomic backup saves "
        "each epoch into its own folder and swaps a link (training/callbacks.py)",
    ),
    (
        keras.callbacks.BackupAndRestore,
        "_load_model",
        ("self",),
        "restores the backup the workers agreed on (the atomic backup chooses which one first)",
    ),
)

#: (owner, private attribute set on instances, why vae-zoo needs it)
ATTRIBUTES = (
    (
        keras.Model,
        "_compile_loss",
        "whether compile() was given a loss (Keras then needs its symbolic build)",
    ),
    (keras.Model, "_compile_metrics", "whether compile() was given metrics (likewise)"),
    (
        keras.Model,
        "_distribute_strategy",
        "whether a model was built or compiled under a tf.distribute strategy",
    ),
    (keras.callbacks.BackupAndRestore, "_current_epoch", "names an atomic backup after its epoch"),
    (keras.callbacks.BackupAndRestore, "_last_batch_seen", "names an atomic backup after its batch"),
    (
        keras.callbacks.BackupAndRestore,
        "_weights_path",
        "where the backup's weights are saved and restored from",
    ),
    (
        keras.callbacks.BackupAndRestore,
        "_training_metadata_path",
        "where the backup's epoch is saved and read",
    ),
)

#: The property `tf.saved_model.save` reads for a model's default signature, and why vae-zoo sets it.
SAVE_SIGNATURE = (
    "_default_save_signature",
    "tf.saved_model.save would trace self(inputs) with a float spec; the signatures are serving_signatures()",
)

#: tf.distribute's private method, and why.
MULTI_WORKER = (
    "_in_multi_worker_mode",
    "a MultiWorkerMirroredStrategy built from a one-worker TF_CONFIG is not multi-worker; Keras's "
    "cross-worker log reduction (keras-team/keras#20585) only happens when it is",
)


class KerasCompatibilityError(ImportError):
    """This Keras does not have a private name vae-zoo relies on in the form it relies on."""


def _fail(name, why, found):
    raise KerasCompatibilityError(
        f"vae-zoo relies on Keras's private {name} ({why}), which Keras {keras.__version__} {found}; "
        f"vae-zoo is tested with keras{KERAS_VERSIONS}: install a Keras in that range"
    )


def check():
    """Raises `KerasCompatibilityError` when a name of `METHODS` / `ATTRIBUTES` is missing or changed."""
    for owner, name, parameters, why in METHODS:
        method = getattr(owner, name, None)
        if not callable(method):
            _fail(f"{owner.__name__}.{name}", why, "does not have")
        found = tuple(inspect.signature(method).parameters)
        if found != parameters:
            _fail(f"{owner.__name__}.{name}{parameters}", why, f"has with the parameters {found}")
    model = keras.Sequential()
    callback = keras.callbacks.BackupAndRestore(backup_dir=".vae_zoo_compat_check_unused")
    for owner, name, why in ATTRIBUTES:
        if not hasattr(model if owner is keras.Model else callback, name):
            _fail(f"{owner.__name__}().{name}", why, "does not set")
    if not hasattr(keras.Model, SAVE_SIGNATURE[0]):
        _fail(f"Model.{SAVE_SIGNATURE[0]}", SAVE_SIGNATURE[1], "does not have")
    from tensorflow.python.distribute import collective_all_reduce_strategy

    if not callable(
        getattr(collective_all_reduce_strategy.CollectiveAllReduceExtended, MULTI_WORKER[0], None)
    ):
        raise KerasCompatibilityError(
            f"vae-zoo relies on tf.distribute's private CollectiveAllReduceExtended.{MULTI_WORKER[0]} "
            f"({MULTI_WORKER[1]}), which TensorFlow {tf.__version__} does not have"
        )


def gradient_hooks(optimizer):
    """`(clip, all_reduce)`: the optimizer's `_clip_gradients` and `_all_reduce_sum_gradients`."""
    return optimizer._clip_gradients, optimizer._all_reduce_sum_gradients


def set_gradient_hooks(optimizer, clip, all_reduce):
    """Replaces the optimizer's per-replica clipping and gradient all-reduce (see `METHODS`)."""
    optimizer._clip_gradients = clip
    optimizer._all_reduce_sum_gradients = all_reduce


def compiled_loss_or_metrics(model):
    """Whether `compile()` was given a loss or metrics."""
    return (
        getattr(model, "_compile_loss", None) is not None
        or getattr(model, "_compile_metrics", None) is not None
    )


def model_strategy(model):
    """The tf.distribute strategy the model was built or compiled under, or None."""
    return getattr(model, "_distribute_strategy", None)


def backup_position(callback):
    """`(epoch, batch)` of a `keras.callbacks.BackupAndRestore` at its current save."""
    return callback._current_epoch, callback._last_batch_seen


def backup_paths(callback):
    """`(weights, metadata)`: the files a `keras.callbacks.BackupAndRestore` saves to and restores from."""
    return callback._weights_path, callback._training_metadata_path


def point_backup_at(callback, directory):
    """Makes a `keras.callbacks.BackupAndRestore` save to and restore from the files in `directory`."""
    callback._weights_path = os.path.join(directory, "latest.weights.h5")
    callback._training_metadata_path = os.path.join(directory, "training_metadata.json")


def load_backup(callback):
    """Restores the model's weights and epoch from the files the callback points at."""
    callback._load_model()


def in_multi_worker_mode(strategy):
    """Whether `strategy` is a MultiWorkerMirroredStrategy that spans several workers."""
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


#: Iterators `Model.fit` makes of a finite dataset each epoch (`steps_per_epoch` unset): Keras 3.15's
#: `EpochIterator` makes the epoch's own at its start, and one more at its end that the next epoch drops.
FIT_ITERATORS_PER_EPOCH = 2


def skip_fit_epochs(dataset, epochs):
    """Re-keys `dataset` as `epochs` epochs of `Model.fit` over it would, without reading a batch.

    A dataset's reshuffling and rerandomizing ops (`shuffle(reshuffle_each_iteration=True)`,
    `Dataset.random(rerandomize_each_iteration=True)`: the shuffle and the dynamic binarization of
    `vae_zoo.datasets.load`) draw new keys each time an iterator of it is made, counting from the
    dataset's creation. A run resumed in a new process after `epochs` epochs calls this before `fit`,
    so that its next epoch draws the batches the uninterrupted run's would have
    (`tests/training/test_train_command.py` checks the count against Keras's own `fit`)."""
    for _ in range(FIT_ITERATORS_PER_EPOCH * epochs):
        iter(dataset)


class BackupAndRestoreHooks:
    """`keras.callbacks.BackupAndRestore`'s private save, forwarded to the public-named `save_backup`."""

    def _save_model(self):
        self.save_backup()


class KerasTrainerHooks:
    """The trainer methods Keras calls privately, forwarded to public-named methods of the model.

    `make_fused_function(step_function)` returns a train/test function or None (Keras's own);
    `skips_symbolic_build()` says whether Keras's first-batch build is to be skipped, and then
    `build_for_fit()` builds what fit needs instead.
    """

    def _make_function(self, step_function):
        function = self.make_fused_function(step_function)
        return super()._make_function(step_function) if function is None else function

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not self.skips_symbolic_build():
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        self.build_for_fit()

    @property
    def _default_save_signature(self):
        # Keras would trace `self(inputs)` with a float spec for tf.saved_model.save; vae-zoo's
        # signatures are `serving_signatures()`, written by vae_zoo.export_saved_model.
        return None


check()
