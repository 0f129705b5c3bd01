"""`HierarchicalVAE`: several stochastic layers with top-down inference (ladder VAE / NVAE style)."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo import distributions as dists
from vae_zoo.distributions.top_down import TopDownGaussian
from vae_zoo.models import hierarchical_networks as networks
from vae_zoo.models.registry import FamilyArgument, register_family
from vae_zoo.models.vae import VAE
from vae_zoo.utils.seeds import PRIOR, fold, per_row, per_row_normal, stream

tfd = tfp.distributions

#: Smallest conditional standard deviation of a layer below the top.
MIN_SCALE = 1e-4
#: softplus(SOFTPLUS_ONE) = 1: a posterior layer whose head outputs zeros has the prior's spread.
SOFTPLUS_ONE = 0.5413248546129181


@register_family("hierarchical")
@keras.saving.register_keras_serializable(package="vae_zoo")
class HierarchicalVAE(VAE):
    """A VAE with L >= 2 stochastic layers z = [z_0 (top), ..., z_{L-1}] and top-down inference.

    Generative model (top down): z_0 ~ p(z_0) (the `prior`: "normal", "mixture" or "vamp"), then
    for each layer below, a deterministic top-down state h_i = f_i(z_{i-1}, h_{i-1}) and
    p(z_i | z_<i) = N(mu_i(h_i), sigma_i(h_i)); p(x | z) reads (z_{L-1}, h_{L-1}), i.e. every layer,
    through a convolutional residual decoder.

    Inference (Sønderby et al. 2016, ladder VAE; Vahdat & Kautz 2020, NVAE): a convolutional
    residual bottom-up pass gives one feature vector d_i per layer (the top layer's the deepest);
    q(z_0 | x) is the `posterior` head on d_0, and each layer below combines the *same* top-down
    state with the bottom-up features, relative to the prior (NVAE's residual form):
    q(z_i | x, z_<i) = N(mu_i + dmu_i(h_i, d_i), sigma_i * dsigma_i(h_i, d_i)).

    The contract: `encode(x)` is q(z|x) over the concatenated latents (`latent_dim` =
    `sum(latent_dims)`, top first), a `TopDownGaussian` (`vae_zoo.distributions.top_down`): its
    `log_prob`, `sample` and `layer_log_probs` are exact; its `mean()` and the `encode` signature's
    `mean` are the path of conditional means (exact for the top layer; below it, the plug-in value of
    E[mu_i(z_<i)], which has no closed form), `stddev` the conditional spreads along that path.
    `decode(z)` is p(x|z) for concatenated z; `prior_distribution()` is p(z), also a
    `TopDownGaussian`; `sample`, `reconstruct`, `elbo` and `log_likelihood` (importance weights over
    all layers) follow. The KL of the ELBO is the top layer's (analytic where TFP has it) plus each
    lower layer's analytic Gaussian KL along the sampled path; `kl="mc"` uses log q - log p for all.

    Training stabilisers: KL warm-up (`vae-zoo train --kl-annealing`, Sønderby et al. 2016) works as
    for every family, and free bits (`free_bits`, Kingma et al. 2016) floor each lower layer's KL per
    dimension and the top layer's per dimension where its prior factorizes, else as one group of
    `latent_dims[0]` dimensions (`kl_per_dim` then spreads the top layer's KL evenly over them). The
    zero-initialized residual and posterior outputs start each block as the identity and q equal to p
    below the top (NVAE's stability measures).

    Args:
        input_shape: `(H, W, C)` with H and W divisible by 4.
        latent_dim: the total size of z (`sum(latent_dims)`); with `latent_dims` omitted, split
            equally into `stochastic_layers` layers.
        latent_dims: the layers' sizes, top first (at least two).
        stochastic_layers: the number of layers when `latent_dims` is omitted (default 2).
        channels: channels at full resolution (twice as many at 1/2 and 1/4).
        residual_blocks: residual blocks per resolution, in the encoder and in the decoder.
        hidden_units: width of the per-layer features and of the top-down states.
        activation: activation of the hidden layers.
        full_resolution_layers: residual 3x3 convolutions of `2 * channels` that close the decoder at
            full resolution (0: none), as ConvHVAE's full-resolution decoder stack (Tomczak & Welling
            2018).
        posterior: the top layer's posterior head: "diagonal" or "diagonal_batch_norm".
        **kwargs: `VAE` arguments (likelihood, prior, beta, kl, free_bits, objective, ...).
    """

    data_kinds = ("images",)
    arguments = {
        "stochastic_layers": FamilyArgument(int, "stochastic layers, --latent-dim split equally (default 2)"),
        "channels": FamilyArgument(int, "convolution channels at full resolution (default 32)"),
        "residual_blocks": FamilyArgument(int, "residual blocks per resolution (default 1)"),
        "hidden_units": FamilyArgument(int, "width of the features and top-down states (default 256)"),
        "activation": FamilyArgument(str, "activation of the hidden layers (default silu)"),
        "full_resolution_layers": FamilyArgument(
            int, "residual 3x3 convolutions of 2*channels closing the decoder at full resolution (default 0)"
        ),
    }
    IW_MAX_ELEMENTS = 2**21

    def __init__(
        self,
        input_shape,
        latent_dim=None,
        latent_dims=None,
        stochastic_layers=None,
        channels=32,
        residual_blocks=1,
        hidden_units=256,
        activation="silu",
        posterior="diagonal",
        full_resolution_layers=0,
        **kwargs,
    ):
        self.latent_dims = networks.layer_sizes(latent_dim, latent_dims, stochastic_layers)
        networks.check_input_shape(input_shape)
        self.channels, self.residual_blocks, self.hidden_units, self.full_resolution_layers = (
            networks.check_widths(channels, residual_blocks, hidden_units, full_resolution_layers)
        )
        self.activation = activation
        head = dists.get_posterior(posterior, self.latent_dims[0])
        if type(head) is not dists.DiagonalGaussianPosterior:
            raise ValueError(
                "HierarchicalVAE's top-layer posterior must be 'diagonal' or 'diagonal_batch_norm' (the "
                f"layers below are diagonal Gaussians relative to the prior), got {posterior!r}"
            )
        if kwargs.get("stl"):
            raise ValueError("stl=True is not available for HierarchicalVAE; use kl='mc' or 'auto'")
        super().__init__(input_shape, sum(self.latent_dims), posterior=head, **kwargs)

    @property
    def head_latent_dim(self):
        return self.latent_dims[0]

    @property
    def num_layers(self):
        return len(self.latent_dims)

    # ------------------------------------------------------------------ networks

    def build_encoder(self):
        """Bottom-up: data -> the layers' features `[B, num_layers * hidden_units]`, top layer first."""
        return networks.bottom_up(
            self.data_shape,
            self.channels,
            self.residual_blocks,
            self.hidden_units,
            self.num_layers,
            self.activation,
        )

    def build_decoder(self):
        """The top-down states, the prior and posterior conditionals of the layers below the top, and
        the output network; returns None (`_decode_raw` walks them)."""
        self.top_down, self.prior_heads, self.posterior_heads = networks.top_down_networks(
            self.latent_dims, self.hidden_units, self.activation
        )
        self.output_network = networks.output_network(
            self.data_shape,
            self.latent_dims[-1] + self.hidden_units,
            self.channels,
            self.residual_blocks,
            self.hidden_units,
            self.likelihood.num_params,
            self.activation,
            self.full_resolution_layers,
        )
        return None

    # ------------------------------------------------------------------ the top-down walk

    def _walk(self, z_top, lower, draw, features=None, training=False):
        """The layers below the top, in turn, for `z_top` `[..., latent_dims[0]]`.

        `draw`: `lower` is standard normal noise and each z_i = loc_i + scale_i * eps_i; else `lower`
        holds the lower layers' z. `features` (`[B, F]`, the bottom-up pass) gives the posterior's
        conditionals, None the prior's. Returns `z` (concatenated), `conditionals` (`[(loc, scale)]`
        of the distribution walked), `priors` (the prior's, always) and the flat last state.
        """
        lead = tf.shape(z_top)[:-1]
        lower_dim = self.latent_dim - self.latent_dims[0]
        if features is not None:  # z `[..., N, L]` against q of a batch `[B]` broadcasts (N = 1 or B)
            lead = tf.broadcast_dynamic_shape(lead, tf.shape(features)[:-1])
            z_top = tf.broadcast_to(z_top, tf.concat([lead, [self.latent_dims[0]]], axis=0))
            lower = tf.broadcast_to(lower, tf.concat([lead, [lower_dim]], axis=0))
        zs = [tf.reshape(z_top, [-1, self.latent_dims[0]])]
        noises = tf.split(tf.reshape(lower, [-1, lower_dim]), list(self.latent_dims[1:]), axis=-1)
        if features is not None:  # float32, as the states: under mixed precision the networks give bfloat16
            features = tf.cast(features, tf.float32)
            features = tf.broadcast_to(features, tf.concat([lead, tf.shape(features)[-1:]], axis=0))
            features = tf.split(
                tf.reshape(features, [-1, self.num_layers * self.hidden_units]), self.num_layers, -1
            )
        conditionals, priors, state = [], [], None
        for i, noise in enumerate(noises, start=1):
            inputs = zs[-1] if state is None else tf.concat([zs[-1], state], axis=-1)
            state = tf.cast(self.top_down[i - 1](inputs, training=training), tf.float32)
            loc, raw = tf.split(self.prior_heads[i - 1](state), 2, axis=-1)
            scale = tf.nn.softplus(raw) + MIN_SCALE
            priors.append((loc, scale))
            if features is not None:
                both = tf.concat([state, features[i]], axis=-1)
                shift, raw = tf.split(self.posterior_heads[i - 1](both, training=training), 2, axis=-1)
                loc, scale = loc + shift, scale * tf.nn.softplus(raw + SOFTPLUS_ONE) + MIN_SCALE
            conditionals.append((loc, scale))
            zs.append(loc + scale * noise if draw else noise)

        def unflatten(t):
            return tf.reshape(t, tf.concat([lead, tf.shape(t)[-1:]], axis=0))

        return {
            "z": unflatten(tf.concat(zs, axis=-1)),
            "conditionals": [(unflatten(m), unflatten(s)) for m, s in conditionals],
            "priors": [(unflatten(m), unflatten(s)) for m, s in priors],
            "state": state,
        }

    def _split(self, z):
        return z[..., : self.latent_dims[0]], z[..., self.latent_dims[0] :]

    def _decode_raw(self, z, training=False, targets=None, seed=None):
        z_top, lower = self._split(z)
        walk = self._walk(z_top, lower, False, training=training)
        inputs = tf.concat([z[..., -self.latent_dims[-1] :], walk["state"]], axis=-1)
        return self.output_network(inputs, training=training)

    # ------------------------------------------------------------------ the distributions

    def _top_params(self, params):
        return {"loc": params["top_loc"], "scale": params["top_scale"]}

    def _posterior_params(self, x, training=False):
        """`{"loc", "scale"}` (the path of conditional means and spreads, all layers), the top
        layer's `top_loc`/`top_scale`, and the bottom-up `features`."""
        features = self.encoder_network(x, training=training)
        top = self._top_head(features, training)
        lower = tf.zeros([tf.shape(x)[0], self.latent_dim - self.latent_dims[0]])
        walk = self._walk(top["loc"], lower, True, features, training)
        scale = tf.concat([top["scale"]] + [s for _, s in walk["conditionals"]], axis=-1)
        return {
            "loc": walk["z"],
            "scale": scale,
            "top_loc": top["loc"],
            "top_scale": top["scale"],
            "features": features,
        }

    def _top_head(self, features, training=False):
        """q(z_0|x)'s parameters from the bottom-up features (the top layer's come first)."""
        return self.posterior(features[:, : self.hidden_units], training=training)

    def _posterior_fn(self, x):
        """q(z_0|x) of the top layer (what a VampPrior at the top mixes)."""
        return self.posterior.distribution(self._top_head(self.encoder_network(x)))

    def _draw(self, params, eps, training=False):
        """z ~ q(z|x) from standard normal `eps` `[..., B, latent_dim]`: `(z_top, the walk below it)`."""
        z_top = self.posterior.reparameterize(self._top_params(params), eps[..., : self.latent_dims[0]])
        return z_top, self._walk(z_top, eps[..., self.latent_dims[0] :], True, params["features"], training)

    def reparameterize(self, params, eps):
        return self._draw(params, eps)[1]["z"]

    def _walker(self, features=None):
        """`TopDownGaussian`'s `walk` for q (the bottom-up `features`) or for the prior (None)."""

        def walk(z_top, lower, draw):
            result = self._walk(z_top, lower, draw, features)
            return result["z"], result["conditionals"]

        return walk

    def _top_prior(self):
        """p(z_0) of the top layer (a VampPrior there mixes the top layer's q)."""
        return self.prior.distribution(self._posterior_fn)

    def posterior_from_parameters(self, params):
        top = self.posterior.distribution(self._top_params(params))
        walk = self._walker(params["features"])
        return TopDownGaussian(top, self.latent_dims, walk, lambda: params["loc"], params["loc"].shape[:1])

    def _prior_distribution(self):
        top = self._top_prior()

        def mean():
            lower = tf.zeros([1, self.latent_dim - self.latent_dims[0]])
            return self._walk(top.mean()[None], lower, True)["z"][0]

        return TopDownGaussian(top, self.latent_dims, self._walker(), mean, [])

    def _kl_available(self, q, p):
        if isinstance(q, TopDownGaussian) and isinstance(p, TopDownGaussian):
            return super()._kl_available(q.top, p.top)
        return super()._kl_available(q, p)

    def encode_outputs(self, x):
        """`mean` (the path of conditional means) and `stddev` (the conditional spreads along it)."""
        params = self._posterior_params(self.prepare_inputs(x))
        return {"mean": params["loc"], "stddev": params["scale"]}

    def prior_rows(self, keys, temperatures):
        """One prior draw per row: the top layer as every family's, the layers below from their own
        per-row noise, each conditional spread scaled by the row's temperature."""
        top = self._top_prior()
        temperatures = tf.cast(temperatures, tf.float32)
        z_top = per_row(
            lambda row: dists.tempered_sample(top, 1, row[0], row[1])[0],
            (stream(keys, PRIOR), temperatures),
            tf.TensorSpec([self.latent_dims[0]], tf.float32),
        )
        noise = per_row_normal(fold(stream(keys, PRIOR), 1), [self.latent_dim - self.latent_dims[0]])
        return self._walk(z_top, noise * temperatures[:, None], True)["z"]

    # ------------------------------------------------------------------ the bound's terms

    def compute_terms(self, x, seed, num_samples=1, training=False, densities=True, per_dimension=True):
        """The terms of `VAE.compute_terms` for the hierarchy (see the class docstring for the KL)."""
        params = self._posterior_params(x, training)
        top_params = self._top_params(params)
        z_top, walk = self._draw(params, self._noise(num_samples, tf.shape(x)[0], seed), training)
        z = walk["z"]
        log_px_z = self._log_px_z(z, x, training, tf.random.experimental.stateless_fold_in(seed, 1))
        top_q, top_p = self.posterior.distribution(top_params), self._top_prior()
        lowers = tf.split(z[..., self.latent_dims[0] :], list(self.latent_dims[1:]), axis=-1)
        q_layers = [tfd.Normal(m, s) for m, s in walk["conditionals"]]
        p_layers = [tfd.Normal(m, s) for m, s in walk["priors"]]
        # each lower layer's log q - log p per dimension `[k, B, d_i]`, and both per layer `[k, B]`
        q_dims = [q.log_prob(v) for q, v in zip(q_layers, lowers)]
        p_dims = [p.log_prob(v) for p, v in zip(p_layers, lowers)]
        log_q = [top_q.log_prob(z_top)] + [tf.reduce_sum(d, -1) for d in q_dims]
        log_p = [top_p.log_prob(z_top)] + [tf.reduce_sum(d, -1) for d in p_dims]
        log_qz, log_pz = tf.add_n(log_q), tf.add_n(log_p)
        mc = self.kl_mode == "mc"
        lower = [  # each lower layer's KL per dimension `[B, d_i]`, analytic unless kl="mc"
            tf.reduce_mean(q - p, 0) if mc else tf.reduce_mean(tfd.kl_divergence(qd, pd), 0)
            for q, p, qd, pd in zip(q_dims, p_dims, q_layers, p_layers)
        ]
        analytic = not mc and self._kl_available(top_q, top_p)
        top_kl = tfd.kl_divergence(top_q, top_p) if analytic else tf.reduce_mean(log_q[0] - log_p[0], 0)
        kl = (
            tf.reduce_mean(log_qz - log_pz, axis=0)
            if mc
            else top_kl + tf.add_n([tf.reduce_sum(d, -1) for d in lower])
        )
        kl_per_dim = None
        if per_dimension and self.posterior.factorized and self.prior.factorized:
            q_top, p_top = self.posterior.marginals(top_params), self.prior.marginals()
            if mc:
                top = tf.reduce_mean(q_top.log_prob(z_top) - p_top.log_prob(z_top), 0)
            else:
                top = tfd.kl_divergence(q_top, p_top)
            kl_per_dim = tf.concat([top] + lower, axis=-1)
        elif per_dimension:  # the top layer is one free-bits group: its KL spread evenly over its dimensions
            top = tf.repeat(top_kl[..., None] / self.latent_dims[0], self.latent_dims[0], axis=-1)
            kl_per_dim = tf.concat([top] + lower, axis=-1)
        return {
            "log_px_z": log_px_z,
            "log_pz": log_pz if densities or mc else None,
            "log_qz": log_qz if densities or mc else None,
            "kl": kl,
            "kl_per_dim": kl_per_dim,
            "params": params,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dims=list(self.latent_dims),
            channels=self.channels,
            residual_blocks=self.residual_blocks,
            hidden_units=self.hidden_units,
            activation=self.activation,
            full_resolution_layers=self.full_resolution_layers,
        )
        return config


__all__ = ["HierarchicalVAE"]
