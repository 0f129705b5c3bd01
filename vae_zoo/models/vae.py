"""The VAE contract: `encode`, `decode`, `prior_distribution`, `sample`, `reconstruct`, `elbo`,
`log_likelihood`, serialization and presets.

Every model family subclasses `VAE` and only declares its two networks
(`build_encoder`, `build_decoder`):

* the encoder: data `[B, *input_shape]` (float32, or int32 tokens) -> features `[B, F]`;
* the decoder: `z` `[N, latent_dim]` -> raw outputs `[N, *event_shape, likelihood.num_params]`.

The distribution heads (`vae_zoo.distributions`) turn features into `q(z|x)`,
raw outputs into `p(x|z)`, and hold the prior `p(z)`. The rest lives in its own
module, once: input checks (`inputs.py`), the bounds and losses
(`objectives.py`), the serving signatures (`signatures.py`) and the Keras
integration (`trainer.py`).
"""

import keras
import numpy as np
import tensorflow as tf

from vae_zoo import distributions as dists
from vae_zoo import presets
from vae_zoo.models.inputs import InputsMixin, check_num_samples
from vae_zoo.models.objectives import KL_MODES, OBJECTIVES, ObjectivesMixin
from vae_zoo.models.row_draws import RowDrawsMixin
from vae_zoo.models.signatures import SignaturesMixin
from vae_zoo.models.trainer import TrainerMixin
from vae_zoo.utils.seeds import as_seed, row_keys, seed_rows


class VAE(InputsMixin, ObjectivesMixin, RowDrawsMixin, SignaturesMixin, TrainerMixin, keras.Model):
    """Base class of every vae-zoo model: a `keras.Model` with a probabilistic contract.

    Args:
        input_shape: shape of one example, e.g. `(28, 28, 1)`.
        latent_dim: size of `z`.
        likelihood: `p(x|z)`: a name in `vae_zoo.distributions.LIKELIHOODS`
            ("bernoulli", "gaussian", "gaussian_fixed", "gaussian_per_dimension",
            "discretized_logistic", "categorical"), a `{"name": ..., **kwargs}`
            dict, or a `LikelihoodHead` layer.
        posterior: `q(z|x)`: "diagonal", "diagonal_batch_norm" (BN-VAE), "full" (or a dict / layer).
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

    A family sets its own settings, calls `super().__init__(...)`, and defines
    `build_encoder()` (data `[B, *input_shape]` -> features `[B, F]`) and
    `build_decoder()` (`z` `[N, latent_dim]` -> raw likelihood parameters
    `[N, *input_shape, likelihood.num_params]`); `VAE.__init__` calls both once
    its heads exist, then builds every variable.

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
        self.posterior = dists.get_posterior(posterior, self.head_latent_dim)
        self.prior = dists.get_prior(prior, self.head_latent_dim, self.data_shape)
        self.kl_mode = kl
        self.free_bits = float(free_bits)
        self.stl = bool(stl)
        self.objective = objective
        self.num_samples = int(num_samples)
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.validate_inputs = bool(validate_inputs)
        self.beta = keras.Variable(float(beta), trainable=False, dtype="float32", name="beta")
        self.encoder_network = self.build_encoder()
        self.decoder_network = self.build_decoder()
        self.build((None, *self.data_shape))

    #: The kinds of data the family reads, its default first (see `vae_zoo.kinds`).
    data_kinds = ("images",)
    #: The family's own training settings: `{name: FamilyArgument(parse, help)}`.
    arguments = {}
    #: Settings every family takes from a training config.
    TRAINING_KEYS = (
        "likelihood",
        "posterior",
        "prior",
        "beta",
        "kl",
        "free_bits",
        "objective",
        "num_samples",
        "seed",
    )

    @classmethod
    def training_kwargs(cls, config):
        """Constructor arguments from a resolved training config: the shared settings (a `None`
        likelihood or posterior means the family's default) and the family's `model_kwargs`."""
        kwargs = {key: config[key] for key in cls.TRAINING_KEYS if key in config}
        for key in ("likelihood", "posterior"):
            if kwargs.get(key) is None:
                kwargs.pop(key, None)
        kwargs.update(config.get("model_kwargs") or {})
        return kwargs

    @classmethod
    def check_training_config(cls, config):
        """Refuses (ValueError) resolved training config settings the family cannot train with; none here."""

    @property
    def data_kind(self):
        """The data kind this model reads (`vae_zoo.kinds`): the family's default unless it says otherwise."""
        return self.data_kinds[0]

    @classmethod
    def from_training_config(cls, config, data):
        """The model a training config describes, for the settings `data` fixes (`{"input_shape": ...}`)."""
        return cls(latent_dim=config["latent_dim"], **data, **cls.training_kwargs(config))

    # ------------------------------------------------------------------ Networks and building

    def build_encoder(self):
        """The encoder network: data `[B, *input_shape]` -> features `[B, F]`. Families define it."""
        raise NotImplementedError(f"{type(self).__name__} must define build_encoder()")

    def build_decoder(self):
        """The decoder network: `z` `[N, latent_dim]` -> `[N, *input_shape, likelihood.num_params]`.

        Families define it. An autoregressive family whose decoder is several
        layers creates them here, returns None and overrides `_decode_raw`.
        """
        raise NotImplementedError(f"{type(self).__name__} must define build_decoder()")

    def build(self, input_shape=None):
        """Creates every variable by running the networks once on zeros."""
        if self.built:
            return
        x = tf.zeros((1, *self.data_shape), tf.int32 if self.likelihood.integer_events else tf.float32)
        params = self._posterior_params(x)
        self._likelihood_params(params["loc"])
        if not self.prior.built:
            self.prior.build(None)
        # Fails now, not in the first training step, when kl="analytic" has no closed form.
        self._kl_available(self.posterior_from_parameters(params), self._prior_distribution())
        self.built = True

    @property
    def head_latent_dim(self):
        """The size of z the posterior and prior heads hold: `latent_dim` (hierarchical: the top layer's)."""
        return self.latent_dim

    @property
    def uses_kl_weight(self):
        """Whether the training loss has a KL term weighted by `model.beta` (what KL annealing drives)."""
        return self.objective == "elbo"

    @property
    def objective_description(self):
        """The training objective in words (what an error about the KL weight names)."""
        return f"objective={self.objective!r}"

    # ------------------------------------------------------------------ The probabilistic pieces

    def _posterior_params(self, x, training=False):
        return self.posterior(self.encoder_network(x, training=training), training=training)

    def posterior_parameters(self, x):
        """The parameters (`{"loc", ...}` tensors) of q(z|x) for prepared inputs `x`, in inference mode."""
        return self._posterior_params(x)

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
        return {k: tf.reshape(v, tf.concat([lead, tf.shape(v)[1:]], axis=0)) for k, v in params.items()}

    def _decode_raw(self, z, training=False, targets=None, seed=None):
        """Raw decoder outputs `[N, *event_shape, num_params]` for flat `z` `[N, latent_dim]`."""
        return self.decoder_network(z, training=training)

    def _posterior_fn(self, x):
        return self.posterior.distribution(self._posterior_params(x))

    def _prior_distribution(self):
        return self.prior.distribution(self._posterior_fn)

    def encode(self, x, training=False):
        """q(z|x): a `tfd.Distribution` with batch shape `[B]` and event shape `[latent_dim]`."""
        return self.posterior_from_parameters(self._posterior_params(self.prepare_inputs(x), training))

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
        """`[num_samples, latent_dim]` draws from the prior, spread scaled by `temperature`.

        Row i is keyed by its own row seed (`vae_zoo.utils.seeds.seed_rows`: `seed + i` for an
        int seed), as in the `sample` signature.
        """
        num_samples = check_num_samples(num_samples)
        keys = row_keys(seed_rows(num_samples, seed))
        return self.prior_rows(keys, tf.fill([num_samples], tf.cast(temperature, tf.float32)))

    def sample(self, num_samples, seed=None, temperature=1.0, output="mean"):
        """Generates `num_samples` new examples `[num_samples, *input_shape]`.

        Args:
            seed: int (row i uses row seed `seed + i`) or None (random).
            temperature: scales the prior's spread (1.0 = the prior).
            output: "mean" (the likelihood mean, default) or "sample" (a draw
                from p(x|z), in the likelihood's support).

        `model.sample(n, seed=s, temperature=t)` equals the exported `sample`
        signature's `x` for `seed = s + arange(n)` and `temperature = [t] * n`;
        `output="sample"` equals `decode_sample` of that `z` with the same seeds.
        """
        if output not in ("mean", "sample"):
            raise ValueError(f"output must be 'mean' or 'sample', got {output!r}")
        num_samples = check_num_samples(num_samples)
        keys = row_keys(seed_rows(num_samples, seed))
        z = self.prior_rows(keys, tf.fill([num_samples], tf.cast(temperature, tf.float32)))
        if output == "mean":
            return self.likelihood.mean(self._likelihood_params(z))
        return self.likelihood_rows(z, keys)

    def reconstruct(self, x, seed=None):
        """Likelihood mean of p(x|z) at the posterior mean of z (`seed` None), or at one draw
        z ~ q(z|x) per row keyed by the row seeds of `seed` (as the `encode_sample` signature)."""
        x = self.prepare_inputs(x)
        if seed is None:
            z = self._posterior_params(x)["loc"]
        else:
            z = self.posterior_rows(x, row_keys(seed_rows(tf.shape(x)[0], seed)))
        return self.likelihood.mean(self._likelihood_params(z))

    def encode_outputs(self, x):
        """q(z|x) as a dict of tensors: `mean`, `stddev` (and `scale_tril` for full covariance)."""
        return self.posterior.serving_outputs(self._posterior_params(self.prepare_inputs(x)))

    def decode_outputs(self, z):
        """p(x|z) as a dict of tensors: the likelihood's parameters and its `mean`."""
        return self.likelihood.serving_outputs(self._likelihood_params(tf.convert_to_tensor(z, tf.float32)))

    def call(self, x, training=False):
        """`model(x)` and `predict` return `reconstruct(x)`."""
        params = self._posterior_params(self.prepare_inputs(x), training)
        return self.likelihood.mean(self._likelihood_params(params["loc"], training))

    # ------------------------------------------------------------------ Bounds

    def log_likelihood(self, x, num_samples=5000, seed=None, max_elements=None, row_seeds=None):
        """Importance-weighted estimate of log p(x) per example, `[B]`, in nats (Burda et al. 2015).

        log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, z_k ~ q(z|x),
        in memory-bounded chunks (`max_elements` decoder outputs; None: the family's
        `IW_MAX_ELEMENTS`) inside a `tf.while_loop`. `seed` (an int or None) keys the whole
        batch; `row_seeds` (integers `[B]`, one per row) instead keys each row's samples by its
        own seed, as the exported `log_likelihood` signature does, so row i's estimate depends on
        row i alone. Give one of the two, not both.
        """
        num_samples = check_num_samples(num_samples)
        x = self.prepare_inputs(x)
        if row_seeds is None:
            return self._iw_log_likelihood(x, num_samples, as_seed(seed), max_elements)
        if seed is not None:
            raise ValueError(
                f"pass seed (one for the batch) or row_seeds (one per row), not both; got seed={seed!r}"
            )
        if np.shape(row_seeds)[:1] != tuple(x.shape[:1]):
            raise ValueError(
                f"row_seeds must hold one seed per row of x ({x.shape[0]}), got shape {np.shape(row_seeds)}"
            )
        return self._iw_log_likelihood(x, num_samples, None, max_elements, keys=row_keys(row_seeds))

    def elbo(self, x, num_samples=1, seed=None):
        """Per-example ELBO in nats, `[B]`: E_q[log p(x|z)] - KL(q(z|x) || p(z)), k-sample average."""
        num_samples = check_num_samples(num_samples)
        terms = self.compute_terms(self.prepare_inputs(x), as_seed(seed), num_samples)
        return tf.reduce_mean(terms["log_px_z"], axis=0) - terms["kl"]

    # ------------------------------------------------------------------ Config and presets

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
        """A pretrained model: a name from `vae_zoo.list_presets()`, a directory written by
        `save_to_preset`, `URL#sha256=<hex>`, or an `hf://` / `kaggle://` handle of such a directory
        (`vae_zoo.presets.hubs`); its config updated by `overrides`.

        Every file's SHA-256 is checked before loading; the model is not compiled.

        >>> import vae_zoo
        >>> vae_zoo.models.DenseVAE.from_preset("dense_fashion_mnist_2d").latent_dim
        2
        """
        return presets.build(name, cls=cls, **overrides)

    def save_to_preset(self, directory, metrics=None, description=None):
        """Writes a preset directory (config, weights, metadata with `metrics` and SHA-256s)
        that `vae_zoo.load(directory)` and `from_preset(directory)` load; see `vae_zoo.presets.directory`."""
        return presets.save_preset(self, directory, metrics=metrics, description=description)
