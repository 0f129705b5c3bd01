"""The Keras integration of a VAE, kept apart from its probabilistic contract (as Keras keeps
`Model` apart from its backend `Trainer`).

`TrainerMixin` supplies what `model.compile()` / `model.fit()` need:

* `compile` defaults (`steps_per_execution`, clipping of the all-reduced gradient under a strategy);
* `train_step` / `test_step` on the model's own objective, with the loss scaled once by 1/(the global
  batch's rows, all-reduced: a short last batch may split unevenly over the replicas) and stateless
  training noise keyed by (seed, optimizer step);
* metrics `loss`, `elbo`, `kl`, `reconstruction` (nats per example, weighted per example over replicas);
* the XLA wrapper that keeps the input checks outside the compiled step;
* the workarounds for Keras 3 `fit` under MultiWorkerMirroredStrategy (keras-team/keras#20585).
"""

import logging

import keras
import tensorflow as tf

from vae_zoo.models.fused_steps import fused_function
from vae_zoo.utils.keras_compat import (
    KerasTrainerHooks,
    compiled_loss_or_metrics,
    gradient_hooks,
    model_strategy,
    set_gradient_hooks,
)
from vae_zoo.utils.distribute import all_reduce_sum, global_rows, multi_worker, replicated

#: Training steps per call of the compiled train function, unless `compile` is told otherwise.
DEFAULT_STEPS_PER_EXECUTION = 32
METRICS = ("loss", "elbo", "kl", "reconstruction")
_ANNOUNCED = set()
logger = logging.getLogger("vae_zoo")


def clip_aggregated_gradients(optimizer):
    """Makes `optimizer` clip the all-reduced gradient under a strategy (one-device semantics).

    Keras clips each replica's gradient before its all-reduce, so `clipnorm`
    on 2 replicas is not `clipnorm` on one device. After this call, in a
    replica context with more than one replica, the optimizer all-reduces
    the (unscaled, for mixed precision) gradients first, clips their sum, and
    skips its own all-reduce. Elsewhere it behaves as before. Installed once,
    from `compile` (replica threads trace `apply` concurrently, so nothing is
    swapped in and out while they run).
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps the real one
    if getattr(inner, "_clips_aggregated_gradients", False):
        return
    if not any(getattr(inner, name, None) for name in ("clipnorm", "global_clipnorm", "clipvalue")):
        return
    clip, all_reduce = gradient_hooks(inner)

    def replicated():
        context = tf.distribute.get_replica_context()
        return context if context is not None and context.num_replicas_in_sync > 1 else None

    def clip_gradients(gradients):
        context = replicated()
        if context is None:
            return clip(gradients)
        present = [g for g in gradients if g is not None]
        reduced = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present) if present else ())
        return clip([None if g is None else next(reduced) for g in gradients])

    def all_reduce_sum_gradients(grads_and_vars):
        return list(grads_and_vars) if replicated() is not None else all_reduce(grads_and_vars)

    set_gradient_hooks(inner, clip_gradients, all_reduce_sum_gradients)
    inner._clips_aggregated_gradients = True


class TrainerMixin(KerasTrainerHooks):
    """`compile`/`fit` integration of `VAE` (mixed in before `keras.Model`).

    The hooks Keras calls privately (`vae_zoo/utils/keras_compat.py`) come here as
    `make_fused_function`, `skips_symbolic_build` and `build_for_fit`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._trackers = [keras.metrics.Mean(name=name) for name in METRICS]

    #: Whether `compile(jit_compile="auto")` (the default) XLA-compiles the training step.
    #: A family sets it from measurements (benchmarks/README.md): only where XLA is faster.
    AUTO_JIT_COMPILE = False

    def _auto_jit_compile(self):
        """The `jit_compile` that `"auto"` means for this model here, announced once per class (a
        warning of the `vae_zoo` logger: shown by Python's default handler, as Keras shows its notices)."""
        choice = bool(self.AUTO_JIT_COMPILE) and not self._distributed()
        key = (type(self).__name__, choice)
        if choice and key not in _ANNOUNCED:
            _ANNOUNCED.add(key)
            logger.warning(
                "vae_zoo: %s compiles its training step with XLA (jit_compile='auto' -> True): "
                "measured faster "
                "on CPU (benchmarks/README.md); pass jit_compile=False to turn it off",
                type(self).__name__,
            )
        return choice

    def compile(self, optimizer="adam", steps_per_execution=None, jit_compile="auto", **kwargs):
        """`keras.Model.compile`, with `steps_per_execution` defaulting to `DEFAULT_STEPS_PER_EXECUTION`.

        A VAE step at batch 128 is a few milliseconds of compute, so Keras's
        per-step dispatch would otherwise cost about as much as the step itself
        (measured in benchmarks/README.md). Pass `steps_per_execution=1` for
        per-batch callbacks. Under a `tf.distribute` strategy the default is 1:
        Keras 3.15's multi-step loop fails there. `jit_compile="auto"` (the default)
        is the family's `AUTO_JIT_COMPILE` (off under a strategy); an explicit value
        always wins. Losses and metrics passed here are not used: the objective is
        the model's own (`objective`, `beta`, `free_bits`, ...). `jit_compile=True` that Keras
        cannot apply (it compiles no model holding a layer without XLA support, such as a
        `SequenceVAE` vocabulary's string lookup) is refused, not silently dropped.
        """
        self._compile(optimizer, steps_per_execution, jit_compile, **kwargs)
        if jit_compile is True and not self.jit_compile and not self.run_eagerly:
            raise ValueError(
                f"jit_compile=True cannot apply to this {type(self).__name__}: Keras compiles no model "
                "holding a layer without XLA support (a SequenceVAE with a vocabulary holds a string "
                "lookup); pass jit_compile=False, or give a sequence model token ids without a vocabulary"
            )

    def _compile(self, optimizer, steps_per_execution, jit_compile, **kwargs):
        if steps_per_execution is None:
            # Keras 3.15's multi-step loop fails under tf.distribute strategies ("You must feed a
            # value for placeholder ... while/cond"), so distributed models run one step per call.
            steps_per_execution = 1 if self._distributed() else DEFAULT_STEPS_PER_EXECUTION
        if jit_compile == "auto":
            jit_compile = self._auto_jit_compile()
        super().compile(
            optimizer=optimizer, steps_per_execution=steps_per_execution, jit_compile=jit_compile, **kwargs
        )
        clip_aggregated_gradients(self.optimizer)

    def step_noise(self, rows, counter):
        """The standard normal noise `[num_samples, rows, latent]` of the step at optimizer step `counter`
        on one device (what `_noise` draws there), drawn by TensorFlow's kernels, outside XLA."""
        return tf.random.stateless_normal([self.num_samples, rows, self.latent_dim], self._step_seed(counter))

    def _distributed(self):
        """Whether the model lives under a tf.distribute strategy (built in its scope, or compiled in one)."""
        return model_strategy(self) is not None or tf.distribute.has_strategy()

    def make_fused_function(self, step_function):
        """The train/test function Keras builds from `step_function`, or None for Keras's own.

        On one device with XLA, every execution (1 or `steps_per_execution` steps) runs as one
        XLA loop whose input checks and training noise stay outside XLA (`fused_steps.py`): XLA
        drops in-graph asserts, and its random generators give other numbers than TensorFlow's
        for the same seed. Not under a tf.distribute strategy: there the optimizer's
        cross-replica merge_call may not run inside a nested function, so Keras compiles its
        whole replica step instead.
        """
        if self.jit_compile and not self.run_eagerly and not self._distributed():
            return fused_function(self, step_function)
        return None

    def compile_from_config(self, config):
        # Keras skips this for models whose compile() is overridden; ours only adds a default. A saved
        # jit_compile=True that Keras could not apply stays Keras's choice here (files saved before
        # compile() refused it).
        config = keras.saving.deserialize_keras_object(config)
        self._compile(
            config.pop("optimizer", "adam"),
            config.pop("steps_per_execution", None),
            config.pop("jit_compile", "auto"),
            **config,
        )
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, *args, **kwargs):
        self._validate_numpy(x)
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self._validate_numpy(x)
        return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._validate_numpy(x)
        return super().predict(x, *args, **kwargs)

    @property
    def metrics(self):
        return list(self._trackers)

    def _step_seed(self, counter):
        return tf.stack([tf.constant(self.seed, tf.int32), tf.cast(counter, tf.int32)])

    def _record(self, values):
        for tracker in self._trackers:
            tracker.update_state(values[tracker.name])
        context = replicated()
        if context is not None:
            # In a replica context a metric reads its own replica's sums, and Keras averages the
            # replicas' logs: per replica, not per example, when a short batch splits unevenly.
            pairs = [[tracker.total.value, tracker.count.value] for tracker in self._trackers]
            sums = all_reduce_sum(context, pairs)
            logs = {
                t.name: tf.math.divide_no_nan(total, count) for t, (total, count) in zip(self._trackers, sums)
            }
        else:
            logs = {tracker.name: tracker.result() for tracker in self._trackers}
        if multi_worker():
            # keras-team/keras#20585: under MultiWorkerMirroredStrategy Keras reduces each
            # log over axis 0 across workers, which fails for scalars; rank-1 logs reduce.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def skips_symbolic_build(self):
        """Whether `fit` skips Keras's symbolic build: vae-zoo models are built at construction and
        train without compiled losses or metrics, and Keras's build reduces the first distributed
        batch across workers, which fails under MultiWorkerMirroredStrategy (keras-team/keras#20585)."""
        return not compiled_loss_or_metrics(self)

    def build_for_fit(self):
        """What `fit` needs built instead of Keras's symbolic build: the optimizer's state."""
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)

    def train_step(self, data):
        x = self.prepare_inputs(data)
        seed = self._step_seed(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            values = self._objective(x, seed, training=True)
            # Sum over the local batch / the global batch's rows (all replicas' rows, all-reduced:
            # not local rows x replicas, which a short last batch split unevenly breaks), done once
            # here because a custom train_step bypasses Keras's own scaling.
            rows = global_rows(tf.shape(values["loss"])[0])
            loss = tf.nn.compute_average_loss(values["loss"], global_batch_size=rows)
            if self.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return self._record(values)

    def test_step(self, data):
        x = self.prepare_inputs(data)
        values = self._objective(x, self._step_seed(-1), training=False)
        return self._record(values)
