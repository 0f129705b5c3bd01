"""The VAE contract: `encode`, `decode`, `sample`, `elbo` and the training step.

Every model family subclasses `VAE` and only builds two networks:

* `encoder_network`: data `[B, *input_shape]` (float32) -> features `[B, F]`;
* `decoder_network`: `z` `[N, latent_dim]` -> raw outputs
  `[N, *event_shape, likelihood.num_params]`.

The distribution heads (`vae_zoo.distributions`) turn features into `q(z|x)`,
raw outputs into `p(x|z)`, and hold the prior `p(z)`. Everything else (the
objectives, noise, metrics, input checks, `fit` integration) lives here, once.
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo import distributions as dists

tfd = tfp.distributions

KL_MODES = ("auto", "analytic", "mc")
#: Training steps per call of the compiled train function, unless `compile` is told otherwise.
DEFAULT_STEPS_PER_EXECUTION = 32
OBJECTIVES = ("elbo", "iwae")
_FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
_INT_DTYPES = (tf.int8, tf.int16, tf.int32, tf.int64, tf.uint16, tf.uint32)


def as_seed(seed):
    """A `[2]` int32 stateless seed from None (fresh random), an int, or a pair/tensor."""
    if seed is None:
        return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)
    if seed.shape.rank != 1 or (seed.shape[0] is not None and seed.shape[0] != 2):
        raise ValueError(f"seed must be an int or a pair of ints (shape [2]), got shape {seed.shape}")
    return seed


def check_num_samples(num_samples, name="num_samples"):
    """`num_samples` as given, refused when < 1: a Python int or eager tensor raises ValueError;
    a graph tensor (an exported signature's input) gets an assertion with the same message."""
    message = f"{name} must be >= 1"
    if isinstance(num_samples, bool):
        raise ValueError(f"{message}, got {num_samples!r}")
    if isinstance(num_samples, (int, np.integer)):
        if num_samples < 1:
            raise ValueError(f"{message}, got {num_samples!r}")
        return int(num_samples)
    if isinstance(num_samples, float):
        raise ValueError(f"{name} must be an integer >= 1, got {num_samples!r}")
    tensor = tf.convert_to_tensor(num_samples)
    if not tensor.dtype.is_integer:
        raise ValueError(f"{name} must be an integer >= 1, got a {tensor.dtype.name} tensor")
    if tensor.shape.rank not in (None, 0):
        raise ValueError(f"{name} must be a scalar, got shape {tensor.shape}")
    if tf.executing_eagerly():
        if int(tensor.numpy()) < 1:
            raise ValueError(f"{message}, got {int(tensor.numpy())}")
        return tensor
    check = tf.debugging.assert_greater_equal(tf.cast(tensor, tf.int64), tf.constant(1, tf.int64), message=message)
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


def global_batch_draw(sampler, num_samples, batch_size, event_shape, seed):
    """A stateless draw `[num_samples, batch_size, *event_shape]` for this replica's rows.

    `sampler(shape, seed)` is a stateless sampler (`tf.random.stateless_normal`, ...).
    Under N replicas, replica r takes rows [rB, (r+1)B) of one
    `[num_samples, N*B, *event_shape]` draw, so a global batch gets the same
    noise on any number of replicas as on one device.
    """
    event_shape = list(event_shape)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return sampler([num_samples, batch_size, *event_shape], seed)
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    full = sampler([num_samples, batch_size * replicas, *event_shape], seed)
    start = tf.cast(replica, tf.int32) * batch_size
    return full[:, start : start + batch_size]


def _global_batch_mean(values):
    """Mean over the global batch (all replicas) of `values` `[B, ...]`; no gradient."""
    values = tf.stop_gradient(values)
    total = tf.reduce_sum(values, axis=0)
    count = tf.cast(tf.shape(values)[0], values.dtype)
    context = tf.distribute.get_replica_context()
    if context is not None and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [total, count])
    return total / count


class VAE(keras.Model):
    """Base class of every vae-zoo model: a `keras.Model` with a probabilistic contract.

    Args:
        input_shape: shape of one example, e.g. `(28, 28, 1)`.
        latent_dim: size of `z`.
        likelihood: `p(x|z)`: a name in `vae_zoo.distributions.LIKELIHOODS`
            ("bernoulli", "gaussian", "gaussian_fixed", "gaussian_per_dimension",
            "discretized_logistic", "categorical"), a `{"name": ..., **kwargs}`
            dict, or a `LikelihoodHead` layer.
        posterior: `q(z|x)`: "diagonal" or "full" (or a dict / layer).
        prior: `p(z)`: "normal", "mixture" or "vamp" (or a dict / layer).
        beta: weight of the KL term in the training loss (a non-trainable
            variable `model.beta`, which KL-annealing callbacks change).
        kl: "analytic" (closed form, where TFP has it), "mc" (Monte Carlo with
            the same samples as the reconstruction term) or "auto" (analytic
            when available).
        free_bits: KL floor in nats per latent dimension (Kingma et al. 2016):
            the loss uses `sum_j max(free_bits, mean_batch KL_j)`; when the
            posterior or prior does not factorize, the floor applies to the total
            KL as `free_bits * latent_dim`. Metrics always report the true KL.
        stl: "sticking the landing" gradients (Roeder et al. 2017): `log q(z|x)`
            is evaluated with stopped posterior parameters. Implies Monte Carlo KL.
        objective: "elbo" or "iwae" (importance-weighted bound, Burda et al. 2015).
        num_samples: samples of `z` per example in training (k of IWAE-k).
        seed: int seeding the training noise (stateless, keyed by the optimizer
            step, so a resumed run continues the same stream). Random if None.
        validate_inputs: check shapes, ranges and NaN/Inf of inputs.

    Metrics reported by `fit` and `evaluate`, all in nats per example:
    `loss` (the training objective), `elbo` (E_q[log p(x|z)] - KL, the bound
    itself whatever `beta`), `kl` (KL(q(z|x) || p(z))) and `reconstruction`
    (-E_q[log p(x|z)]).
    """

    def __init__(
        self,
        input_shape,
        latent_dim,
        likelihood="bernoulli",
        posterior="diagonal",
        prior="normal",
        beta=1.0,
        kl="auto",
        free_bits=0.0,
        stl=False,
        objective="elbo",
        num_samples=1,
        seed=None,
        validate_inputs=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        try:
            self.data_shape = tuple(int(d) for d in input_shape)
        except (TypeError, ValueError):
            raise ValueError(f"input_shape must be a tuple of ints, got {input_shape!r}") from None
        if not self.data_shape or min(self.data_shape) < 1:
            raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        if kl not in KL_MODES:
            raise ValueError(f"kl must be one of {KL_MODES}, got {kl!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
        if stl and kl == "analytic":
            raise ValueError("stl=True needs a Monte Carlo KL; use kl='mc' or kl='auto'")
        if free_bits < 0:
            raise ValueError(f"free_bits must be >= 0 nats, got {free_bits!r}")
        if objective == "iwae":
            # The importance-weighted bound has no separate KL term: a KL weight, a KL floor or a
            # capacity target has nothing to act on, so they are refused rather than ignored.
            if float(beta) != 1.0:
                raise ValueError(
                    f"objective='iwae' has no KL term to weight: beta must be 1.0, got {beta!r}; "
                    "use objective='elbo' for a beta-weighted KL"
                )
            if free_bits > 0:
                raise ValueError(
                    f"objective='iwae' has no KL term to floor: free_bits must be 0, got {free_bits!r}; "
                    "use objective='elbo' for free bits"
                )
        self.latent_dim = int(latent_dim)
        self.likelihood = dists.get_likelihood(likelihood)
        self.posterior = dists.get_posterior(posterior, self.latent_dim)
        self.prior = dists.get_prior(prior, self.latent_dim, self.data_shape)
        self.kl_mode = kl
        self.free_bits = float(free_bits)
        self.stl = bool(stl)
        self.objective = objective
        self.num_samples = int(num_samples)
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.validate_inputs = bool(validate_inputs)
        self.beta = keras.Variable(float(beta), trainable=False, dtype="float32", name="beta")
        self._trackers = [keras.metrics.Mean(name=n) for n in ("loss", "elbo", "kl", "reconstruction")]

    # ------------------------------------------------------------------
    # Building
    # ------------------------------------------------------------------

    def build(self, input_shape=None):
        """Creates every variable by running the networks once on zeros."""
        if self.built and self.encoder_network.built:
            return
        x = tf.zeros((1, *self.data_shape), tf.int32 if self.likelihood.integer_events else tf.float32)
        params = self._posterior_params(x)
        self._likelihood_params(params["loc"])
        if not self.prior.built:
            self.prior.build(None)
        # Fails now, not in the first training step, when kl="analytic" has no closed form.
        self._kl_available(self.posterior.distribution(params), self._prior_distribution())
        self.built = True

    @property
    def uses_kl_weight(self):
        """Whether the training loss has a KL term weighted by `model.beta` (what KL annealing drives)."""
        return self.objective == "elbo"

    def _finish_init(self):
        """Called at the end of a family's `__init__`, once its networks exist."""
        self.build((None, *self.data_shape))

    # ------------------------------------------------------------------
    # Inputs
    # ------------------------------------------------------------------

    def _expected(self):
        return f"(batch, {', '.join(map(str, self.data_shape))})"

    def _check_shape(self, shape):
        expected = self.data_shape
        actual = tuple(shape[1:]) if shape.rank else ()
        if shape.rank == len(expected) and expected[-1] == 1 and self._compatible(actual + (1,), expected):
            return "expand"
        if shape.rank != len(expected) + 1 or not self._compatible(actual, expected):
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape {self._expected()}, "
                f"got {tuple(shape.as_list()) if shape.rank is not None else 'unknown rank'}"
            )
        return "ok"

    @staticmethod
    def _compatible(actual, expected):
        return len(actual) == len(expected) and all(a is None or a == e for a, e in zip(actual, expected))

    def prepare_inputs(self, x):
        """Unpacks `(x, y)`, checks the shape and converts to the model's dtype.

        Images: float inputs are cast to float32 and must lie in [0, 1] when the
        likelihood needs it; uint8 inputs are divided by 255 in the graph; a
        missing trailing channel of size 1 is added. Token models take ints.
        NaN/Inf and out-of-range values raise `ValueError` when called eagerly
        (and `InvalidArgumentError` with the same message inside a graph).
        """
        if isinstance(x, (tuple, list)):
            x = x[0]
        x = tf.convert_to_tensor(x)
        if self._check_shape(x.shape) == "expand":
            x = x[..., None]
        dtype = x.dtype
        if self.likelihood.integer_events:
            if dtype not in _INT_DTYPES + (tf.uint8,):
                raise ValueError(f"{type(self).__name__} expects integer token ids, got dtype {dtype.name}")
            return tf.cast(x, tf.int32)
        if dtype == tf.uint8:
            return tf.cast(x, tf.float32) / 255.0
        if dtype == tf.bool:
            return tf.cast(x, tf.float32)
        if dtype not in _FLOAT_DTYPES:
            raise ValueError(
                f"{type(self).__name__} expects float images in [0, 1] or uint8 images in [0, 255], "
                f"got dtype {dtype.name}"
            )
        x = tf.cast(x, tf.float32)
        if self.validate_inputs:
            x = self._check_values(x)
        return x

    def _value_errors(self):
        low_high = self.likelihood.data_range
        name = type(self.likelihood).__name__
        range_msg = None
        if low_high is not None:
            range_msg = (
                f"{name} needs input values in [{low_high[0]:g}, {low_high[1]:g}] "
                "(scale images by 1/255 or pass uint8)"
            )
        return low_high, "input contains NaN or Inf values", range_msg

    def _check_values(self, x):
        low_high, nan_msg, range_msg = self._value_errors()
        if tf.executing_eagerly():
            check_array(x.numpy(), low_high, nan_msg, range_msg)
            return x
        checks = [tf.debugging.assert_all_finite(x, nan_msg)]
        if low_high is not None:
            in_range = tf.logical_and(tf.reduce_min(x) >= low_high[0], tf.reduce_max(x) <= low_high[1])
            checks.append(tf.debugging.Assert(in_range, [range_msg, tf.reduce_min(x), tf.reduce_max(x)]))
        with tf.control_dependencies(checks):
            return tf.identity(x)

    def _validate_numpy(self, x):
        """Eager checks of numpy inputs to `fit`/`evaluate`/`predict` (raise ValueError)."""
        if isinstance(x, (tuple, list)) and x and isinstance(x[0], np.ndarray):
            x = x[0]
        if not isinstance(x, np.ndarray):
            return
        self._check_shape(tf.TensorShape(x.shape))
        if self.validate_inputs and x.dtype.kind == "f":
            low_high, nan_msg, range_msg = self._value_errors()
            check_array(x, low_high, nan_msg, range_msg)

    def compile(self, optimizer="adam", steps_per_execution=None, **kwargs):
        """`keras.Model.compile`, with `steps_per_execution` defaulting to `DEFAULT_STEPS_PER_EXECUTION`.

        A VAE step at batch 128 is a few milliseconds of compute, so Keras's
        per-step dispatch would otherwise cost about as much as the step itself
        (measured in benchmarks/README.md). Pass `steps_per_execution=1` for
        per-batch callbacks. Under a `tf.distribute` strategy the default is 1:
        Keras 3.15's multi-step loop fails there. Losses and metrics passed here are not used: the
        objective is the model's own (`objective`, `beta`, `free_bits`, ...).
        """
        if steps_per_execution is None:
            # Keras 3.15's multi-step loop fails under tf.distribute strategies ("You must feed a
            # value for placeholder ... while/cond"), so distributed models run one step per call.
            steps_per_execution = 1 if self._distributed() else DEFAULT_STEPS_PER_EXECUTION
        super().compile(optimizer=optimizer, steps_per_execution=steps_per_execution, **kwargs)
        clip_aggregated_gradients(self.optimizer)

    def _distributed(self):
        """Whether the model lives under a tf.distribute strategy (built in its scope, or compiled in one)."""
        return getattr(self, "_distribute_strategy", None) is not None or tf.distribute.has_strategy()

    def _make_function(self, step_function):
        # XLA drops in-graph asserts, so under `jit_compile` the input checks (NaN/Inf, value
        # range) would silently vanish. Here the step itself is XLA-compiled and the checks run
        # around it, in Keras's (not compiled) loop. `_make_function` is the Keras 3 TF trainer's
        # hook that builds the train and test functions.
        # Not under a tf.distribute strategy: there the optimizer's cross-replica merge_call may
        # not run inside a nested function, so Keras compiles its whole replica step instead.
        if not (self.jit_compile and self.validate_inputs) or self.run_eagerly or self._distributed():
            return super()._make_function(step_function)
        compiled = tf.function(step_function, jit_compile=True, reduce_retracing=True)

        @tf.autograph.experimental.do_not_convert
        def checked_step(data):
            return compiled(self.prepare_inputs(data))

        self._jit_compile = False  # the loop around the step stays uncompiled
        try:
            return super()._make_function(checked_step)
        finally:
            self._jit_compile = True

    def compile_from_config(self, config):
        # Keras skips this for models whose compile() is overridden; ours only adds a default.
        self.compile(**keras.saving.deserialize_keras_object(config))
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

    # ------------------------------------------------------------------
    # The probabilistic pieces
    # ------------------------------------------------------------------

    def _posterior_params(self, x, training=False):
        return self.posterior(self.encoder_network(x, training=training))

    def _likelihood_params(self, z, training=False, targets=None, seed=None):
        """Likelihood parameters for `z` of shape `[..., latent_dim]` (any leading dims).

        `targets` (the prepared `x`, `[B, ...]`) is given when the likelihood is
        evaluated at data; autoregressive families use it for teacher forcing.
        `seed` (`[2]`) keys the decoder's own training noise (word dropout).
        """
        z = tf.convert_to_tensor(z, tf.float32)
        lead = tf.shape(z)[:-1]
        raw = self._decode_raw(tf.reshape(z, [-1, self.latent_dim]), training, targets, seed)
        params = self.likelihood(raw)
        return {
            k: tf.reshape(v, tf.concat([lead, tf.shape(v)[1:]], axis=0)) for k, v in params.items()
        }

    def _decode_raw(self, z, training=False, targets=None, seed=None):
        """Raw decoder outputs `[N, *event_shape, num_params]` for flat `z` `[N, latent_dim]`."""
        return self.decoder_network(z, training=training)

    def _posterior_fn(self, x):
        return self.posterior.distribution(self._posterior_params(x))

    def _prior_distribution(self):
        return self.prior.distribution(self._posterior_fn)

    def encode(self, x, training=False):
        """q(z|x): a `tfd.Distribution` with batch shape `[B]` and event shape `[latent_dim]`."""
        return self.posterior.distribution(self._posterior_params(self.prepare_inputs(x), training))

    def decode(self, z, training=False):
        """p(x|z): a `tfd.Distribution` over x with batch shape `z.shape[:-1]`."""
        z = tf.convert_to_tensor(z, tf.float32)
        if z.shape.rank is not None and (z.shape.rank < 1 or z.shape[-1] not in (None, self.latent_dim)):
            raise ValueError(f"decode expects z of shape (..., {self.latent_dim}), got {tuple(z.shape)}")
        return self.likelihood.distribution(self._likelihood_params(z, training))

    def prior_distribution(self):
        """p(z): a `tfd.Distribution` with event shape `[latent_dim]`."""
        return self._prior_distribution()

    def sample_latents(self, num_samples, seed=None, temperature=1.0):
        """`[num_samples, latent_dim]` draws from the prior, spread scaled by `temperature`."""
        num_samples = check_num_samples(num_samples)
        return dists.tempered_sample(self._prior_distribution(), num_samples, as_seed(seed), temperature)

    def sample(self, num_samples, seed=None, temperature=1.0, output="mean"):
        """Generates `num_samples` new examples `[num_samples, *input_shape]`.

        Args:
            seed: int or `[2]` int tensor for stateless, reproducible draws.
            temperature: scales the prior's spread (1.0 = the prior).
            output: "mean" (the likelihood mean, default) or "sample" (a draw
                from p(x|z), in the likelihood's support).
        """
        if output not in ("mean", "sample"):
            raise ValueError(f"output must be 'mean' or 'sample', got {output!r}")
        num_samples = check_num_samples(num_samples)
        seed = as_seed(seed)
        if output == "mean":
            return self.sample_outputs(num_samples, seed, temperature)["x"]
        seed_z, seed_x = tfp.random.split_seed(seed, n=2)
        z = self.sample_latents(num_samples, seed_z, temperature)
        return self.likelihood.distribution(self._likelihood_params(z)).sample(seed=seed_x)

    def _latent(self, params, seed):
        """`z` for `encode_outputs`/`reconstruct`: the posterior mean when `seed` is None or
        `[0, 0]`, otherwise a stateless draw from q(z|x) keyed by `seed`."""
        if seed is None:
            return params["loc"]
        seed = as_seed(seed)
        eps = tf.random.stateless_normal(tf.shape(params["loc"]), seed)
        draw = self.posterior.reparameterize(params, eps)
        return tf.where(tf.reduce_all(tf.equal(seed, 0)), params["loc"], draw)

    def reconstruct(self, x, seed=None):
        """Likelihood mean of p(x|z) at the posterior mean of z (`seed` None or `[0, 0]`),
        or at a stateless draw z ~ q(z|x) keyed by any other `seed`."""
        params = self._posterior_params(self.prepare_inputs(x))
        return self.likelihood.mean(self._likelihood_params(self._latent(params, seed)))

    def encode_outputs(self, x, seed=None):
        """q(z|x) as a dict of tensors: `mean`, `stddev` (and `scale_tril` for full
        covariance) and `z` (the mean for `seed` None or `[0, 0]`, else a draw)."""
        params = self._posterior_params(self.prepare_inputs(x))
        return {**self.posterior.serving_outputs(params), "z": self._latent(params, seed)}

    def decode_outputs(self, z):
        """p(x|z) as a dict of tensors: the likelihood's parameters and its `mean`."""
        return self.likelihood.serving_outputs(self._likelihood_params(tf.convert_to_tensor(z, tf.float32)))

    def sample_outputs(self, num_samples, seed=None, temperature=1.0):
        """`{"x": likelihood means, "z": latents}` for `num_samples` prior draws (stateless with `seed`)."""
        seed_z, _ = tfp.random.split_seed(as_seed(seed), n=2)
        z = self.sample_latents(num_samples, seed_z, temperature)
        return {"x": self.likelihood.mean(self._likelihood_params(z)), "z": z}

    def call(self, x, training=False):
        """`model(x)` and `predict` return `reconstruct(x)`."""
        params = self._posterior_params(self.prepare_inputs(x), training)
        return self.likelihood.mean(self._likelihood_params(params["loc"], training))

    # ------------------------------------------------------------------
    # Bounds
    # ------------------------------------------------------------------

    def _noise(self, num_samples, batch_size, seed):
        """Standard normal `[k, B, latent]`, the same for a global batch on any number of replicas."""
        return global_batch_draw(tf.random.stateless_normal, num_samples, batch_size, [self.latent_dim], seed)

    def _kl_available(self, q, p):
        if self.kl_mode == "mc" or self.stl:
            return False
        try:
            tfd.kl_divergence(q, p)
        except NotImplementedError:
            if self.kl_mode == "analytic":
                raise ValueError(
                    f"No analytic KL between {type(q).__name__} and {type(p).__name__}; use kl='mc' or 'auto'"
                ) from None
            return False
        return True

    def compute_terms(self, x, seed, num_samples=1, training=False, densities=True, per_dimension=True):
        """All terms of the bounds for prepared inputs `x` `[B, ...]`, per example.

        Returns a dict with `log_px_z`, `log_pz`, `log_qz` (`[k, B]`), `kl`
        (`[B]`, analytic or Monte Carlo), `kl_per_dim` (`[B, latent]`, or None when
        q or p does not factorize), and `params` (posterior parameters).
        `densities=False` skips `log_pz`/`log_qz` when the KL is analytic and
        `per_dimension=False` skips `kl_per_dim` (both None then): the training
        step asks only for what its objective uses.
        """
        params = self._posterior_params(x, training)
        q = self.posterior.distribution(params)
        eps = self._noise(num_samples, tf.shape(x)[0], seed)
        z = self.posterior.reparameterize(params, eps)
        # Decoder noise (word dropout) has its own stream, keyed by the same (seed, step).
        decoder_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        log_px_z = self.likelihood.log_prob(self._likelihood_params(z, training, targets=x, seed=decoder_seed), x)
        prior = self._prior_distribution()
        analytic = self._kl_available(q, prior)
        # STL: log q(z|x) is evaluated with stopped parameters, in the total and per dimension alike.
        density_params = tf.nest.map_structure(tf.stop_gradient, params) if self.stl else params
        log_qz = log_pz = None
        if densities or not analytic:
            log_qz = self.posterior.distribution(density_params).log_prob(z)
            log_pz = prior.log_prob(z)
        kl = tfd.kl_divergence(q, prior) if analytic else tf.reduce_mean(log_qz - log_pz, axis=0)
        kl_per_dim = None
        if per_dimension and self.posterior.factorized and self.prior.factorized:
            p_marg = self.prior.marginals()
            if analytic:
                kl_per_dim = tfd.kl_divergence(self.posterior.marginals(params), p_marg)
            else:
                q_marg = self.posterior.marginals(density_params)
                kl_per_dim = tf.reduce_mean(q_marg.log_prob(z) - p_marg.log_prob(z), axis=0)
        return {
            "log_px_z": log_px_z,
            "log_pz": log_pz,
            "log_qz": log_qz,
            "kl": kl,
            "kl_per_dim": kl_per_dim,
            "params": params,
        }

    def kl_penalty(self, kl, kl_per_dim):
        """The KL part of the per-example training loss: `beta * KL`, with free bits."""
        if self.free_bits > 0:
            if kl_per_dim is not None:
                active = _global_batch_mean(kl_per_dim) > self.free_bits
                kl = tf.reduce_sum(tf.where(active, kl_per_dim, self.free_bits), axis=-1)
            else:
                floor = self.free_bits * self.latent_dim
                kl = tf.where(_global_batch_mean(kl) > floor, kl, floor)
        return self.beta * kl

    def _objective(self, x, seed, training):
        k = self.num_samples
        iwae = self.objective == "iwae"
        terms = self.compute_terms(
            x, seed, num_samples=k, training=training, densities=iwae, per_dimension=self.free_bits > 0 and not iwae
        )
        reconstruction = -tf.reduce_mean(terms["log_px_z"], axis=0)
        elbo = -reconstruction - terms["kl"]
        if iwae:
            log_w = terms["log_px_z"] + terms["log_pz"] - terms["log_qz"]
            loss = -(tf.reduce_logsumexp(log_w, axis=0) - math.log(k))
        else:
            loss = reconstruction + self.kl_penalty(terms["kl"], terms["kl_per_dim"])
        return {"loss": loss, "elbo": elbo, "kl": terms["kl"], "reconstruction": reconstruction}

    def log_likelihood(self, x, num_samples=5000, seed=None, max_elements=2**24):
        """Importance-weighted estimate of log p(x) per example, `[B]`, in nats (Burda et al. 2015).

        log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K,
        z_k ~ q(z|x). The K samples are drawn in chunks inside a `tf.while_loop`
        (at most `max_elements` decoder outputs at a time), so memory stays
        bounded for any K; chunks are combined with a running log-sum-exp.
        `num_samples` may be a tensor (as in the exported `log_likelihood` signature).
        """
        num_samples = check_num_samples(num_samples)
        return self._iw_log_likelihood(self.prepare_inputs(x), num_samples, as_seed(seed), max_elements)

    def _iw_log_likelihood(self, x, num_samples, seed, max_elements=2**24):
        num_samples = tf.cast(check_num_samples(num_samples), tf.int32)
        batch = tf.shape(x)[0]
        outputs_per_sample = int(np.prod(self.data_shape)) * self.likelihood.num_params
        chunk = tf.maximum(1, max_elements // (tf.maximum(batch, 1) * outputs_per_sample))
        chunk = tf.minimum(chunk, num_samples)
        params = self._posterior_params(x)
        q = self.posterior.distribution(params)
        prior = self._prior_distribution()

        def body(i, total):
            eps = tf.random.stateless_normal([chunk, batch, self.latent_dim], tf.random.experimental.stateless_fold_in(seed, i))
            z = self.posterior.reparameterize(params, eps)
            log_w = self.likelihood.log_prob(self._likelihood_params(z, targets=x), x) + prior.log_prob(z) - q.log_prob(z)
            valid = (i * chunk + tf.range(chunk)) < num_samples  # the last chunk may overshoot
            log_w = tf.where(valid[:, None], log_w, -np.inf)
            return i + 1, tf.reduce_logsumexp(tf.stack([total, tf.reduce_logsumexp(log_w, axis=0)]), axis=0)

        chunks = (num_samples + chunk - 1) // chunk
        total = tf.fill([batch], tf.constant(-np.inf, tf.float32))
        _, total = tf.while_loop(lambda i, _: i < chunks, body, (tf.constant(0), total))
        return total - tf.math.log(tf.cast(num_samples, tf.float32))

    def elbo(self, x, num_samples=1, seed=None):
        """Per-example ELBO in nats, `[B]`: E_q[log p(x|z)] - KL(q(z|x) || p(z)), k-sample average."""
        num_samples = check_num_samples(num_samples)
        terms = self.compute_terms(self.prepare_inputs(x), as_seed(seed), num_samples)
        return tf.reduce_mean(terms["log_px_z"], axis=0) - terms["kl"]

    # ------------------------------------------------------------------
    # Serving
    # ------------------------------------------------------------------

    def serving_signatures(self):
        """`{name: (function, [tf.TensorSpec, ...])}` of the exported SavedModel signatures.

        Export (`vae_zoo.export`) writes whatever this returns, so a family with
        other inputs (e.g. strings) overrides this and exports without new
        export code. Outputs are dicts of tensors.
        """
        x = tf.TensorSpec([None, *self.data_shape], tf.float32, name="x")
        seed = tf.TensorSpec([2], tf.int32, name="seed")
        num_samples = tf.TensorSpec([], tf.int32, name="num_samples")
        return {
            "encode": (lambda x, seed: self.encode_outputs(x, seed), [x, seed]),
            "decode": (self.decode_outputs, [tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")]),
            "sample": (
                self.sample_outputs,
                [num_samples, seed, tf.TensorSpec([], tf.float32, name="temperature")],
            ),
            "reconstruct": (lambda x, seed: {"reconstruction": self.reconstruct(x, seed)}, [x, seed]),
            "log_likelihood": (
                lambda x, num_samples, seed: {"log_likelihood": self.log_likelihood(x, num_samples, seed)},
                [x, num_samples, seed],
            ),
        }

    @property
    def _default_save_signature(self):
        # Keras would trace `self(inputs)` with a float spec for tf.saved_model.save; the
        # signatures are `serving_signatures()`, written by vae_zoo.export_saved_model.
        return None

    def serving_metadata(self):
        """Facts recorded in the export's `assets.extra/vae_zoo.json`."""
        return {
            "input_shape": list(self.data_shape),
            "input_dtype": "int32" if self.likelihood.integer_events else "float32",
            "likelihood": type(self.likelihood).__name__,
            "latent_dim": self.latent_dim,
        }

    # ------------------------------------------------------------------
    # Keras integration
    # ------------------------------------------------------------------

    @property
    def metrics(self):
        return list(self._trackers)

    def _step_seed(self, counter):
        return tf.stack([tf.constant(self.seed, tf.int32), tf.cast(counter, tf.int32)])

    def _record(self, values):
        for tracker in self._trackers:
            tracker.update_state(values[tracker.name])
        logs = {tracker.name: tracker.result() for tracker in self._trackers}
        if _multi_worker():
            # keras-team/keras#20585: under MultiWorkerMirroredStrategy Keras reduces each
            # log over axis 0 across workers, which fails for scalars; rank-1 logs reduce.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # vae-zoo models are built at construction and train without compiled losses or
        # metrics, so the optimizer is the only state left to create. Keras's version
        # reduces the first distributed batch across workers, which fails under
        # MultiWorkerMirroredStrategy for (x, y) data (keras-team/keras#20585).
        if getattr(self, "_compile_loss", None) is not None or getattr(self, "_compile_metrics", None) is not None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)

    def train_step(self, data):
        x = self.prepare_inputs(data)
        seed = self._step_seed(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            values = self._objective(x, seed, training=True)
            # Sum over the local batch / global batch size: the 1/replicas scaling,
            # done once here because a custom train_step bypasses Keras's own.
            loss = tf.nn.compute_average_loss(values["loss"])
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

    def get_config(self):
        config = {
            "name": self.name,
            "input_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "likelihood": keras.saving.serialize_keras_object(self.likelihood),
            "posterior": keras.saving.serialize_keras_object(self.posterior),
            "prior": keras.saving.serialize_keras_object(self.prior),
            "beta": float(self.beta.numpy()),
            "kl": self.kl_mode,
            "free_bits": self.free_bits,
            "stl": self.stl,
            "objective": self.objective,
            "num_samples": self.num_samples,
            "seed": self.seed,
            "validate_inputs": self.validate_inputs,
        }
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, name, **overrides):
        """A pretrained model from `vae_zoo.list_presets()`, its config updated by `overrides`.

        The weights' SHA-256 is checked before loading. The model is not compiled;
        compile it to fine-tune with `fit`.

        Example:

        >>> import vae_zoo
        >>> model = vae_zoo.models.DenseVAE.from_preset("dense_fashion_mnist_2d")
        >>> model.latent_dim
        2
        """
        from vae_zoo import presets

        return presets.build(name, cls=cls, **overrides)


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
    clip, all_reduce = inner._clip_gradients, inner._all_reduce_sum_gradients

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

    inner._clip_gradients = clip_gradients
    inner._all_reduce_sum_gradients = all_reduce_sum_gradients
    inner._clips_aggregated_gradients = True


def _multi_worker():
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def check_array(array, low_high, nan_msg, range_msg):
    """Raises ValueError when a numpy array has NaN/Inf or leaves `low_high`."""
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{nan_msg}: {int((~finite).sum())} of {array.size} values are not finite")
    if low_high is not None and array.size:
        low, high = float(array.min()), float(array.max())
        if low < low_high[0] or high > low_high[1]:
            raise ValueError(f"{range_msg}; got values in [{low:g}, {high:g}]")
