"""The objectives: the terms of the bounds, ELBO, IWAE, the KL penalty with free bits, and the
importance-weighted estimate of log p(x).

    ELBO(x)   = E_q[log p(x|z)] - KL(q(z|x) || p(z))
    IWAE_k(x) = E[log 1/k sum_i p(x, z_i) / q(z_i|x)],  z_i ~ q(z|x)   (Burda et al. 2015)

`ObjectivesMixin` computes them for a `VAE` from its contract (posterior
parameters, reparameterization, likelihood parameters, the prior). The pure
functions below are the formulas themselves.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo.models.inputs import check_num_samples
from vae_zoo.utils.distribute import global_batch_draw, global_batch_mean
from vae_zoo.utils.seeds import IMPORTANCE, fold, per_row_normal, stream

tfd = tfp.distributions

KL_MODES = ("auto", "analytic", "mc")
#: Importance samples per row drawn at a time when each row has its own seed (independent of the batch).
ROW_BLOCK = 32
OBJECTIVES = ("elbo", "iwae")


def free_bits_kl(kl, kl_per_dim, free_bits, latent_dim):
    """The KL of the loss under free bits (Kingma et al. 2016): `sum_j max(free_bits, mean_batch KL_j)`
    in per-example form (a dimension whose global-batch mean is below the floor counts `free_bits`);
    without per-dimension terms, the floor `free_bits * latent_dim` applies to the total."""
    if free_bits <= 0:
        return kl
    if kl_per_dim is not None:
        active = global_batch_mean(kl_per_dim) > free_bits
        return tf.reduce_sum(tf.where(active, kl_per_dim, free_bits), axis=-1)
    floor = free_bits * latent_dim
    return tf.where(global_batch_mean(kl) > floor, kl, floor)


def iwae_bound(log_w):
    """`logsumexp_k log_w - log k` over the leading axis of `log_w` `[k, B]`."""
    k = tf.cast(tf.shape(log_w)[0], log_w.dtype)
    return tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(k)


class ObjectivesMixin:
    """Bounds and losses of `VAE`; uses the model's heads, networks and settings."""

    def _noise(self, num_samples, batch_size, seed):
        """Standard normal `[k, B, latent]`, the same for a global batch on any number of replicas.

        Under XLA the trainer draws it outside the compiled step and hands it in
        (`_injected_noise`): XLA's stateless generators give other numbers than
        TensorFlow's for the same seed, and an XLA step must train like a plain one.
        """
        injected = getattr(self, "_injected_noise", None)
        if injected is not None:
            return injected
        return global_batch_draw(tf.random.stateless_normal, num_samples, batch_size, [self.latent_dim], seed)

    def posterior_from_parameters(self, params):
        """q(z|x) (a `tfd.Distribution`, event `[latent_dim]`) from `posterior_parameters(x)`'s output."""
        return self.posterior.distribution(params)

    def reparameterize(self, params, eps):
        """z drawn from q(z|x) with standard normal `eps` `[..., B, latent_dim]` (differentiable)."""
        return self.posterior.reparameterize(params, eps)

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

    def _log_px_z(self, z, x, training=False, seed=None):
        """log p(x|z) `[k, B]` for z `[k, B, latent]` and prepared `x` `[B, ...]` (the ELBO's first term)."""
        return self.likelihood.log_prob(self._likelihood_params(z, training, targets=x, seed=seed), x)

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
        q = self.posterior_from_parameters(params)
        eps = self._noise(num_samples, tf.shape(x)[0], seed)
        z = self.reparameterize(params, eps)
        # Decoder noise (word dropout) has its own stream, keyed by the same (seed, step).
        decoder_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        log_px_z = self._log_px_z(z, x, training, decoder_seed)
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

    #: Optimizer step -> KL weight (a tensor), or None: `beta`. Set for the length of a `fit` by
    #: `vae_zoo.training.callbacks.KLAnnealing`; the training step evaluates it at every step.
    kl_schedule = None

    def kl_weight(self, training=False):
        """The KL weight of this step: the annealing schedule's in training while one is set, else `beta`."""
        if training and self.kl_schedule is not None:
            return tf.cast(self.kl_schedule(self.optimizer.iterations), tf.float32)
        return self.beta

    def kl_penalty(self, kl, kl_per_dim, weight=None):
        """The KL part of the per-example training loss: `weight * KL` (`beta` by default), with free bits."""
        weight = self.beta if weight is None else weight
        return weight * free_bits_kl(kl, kl_per_dim, self.free_bits, self.latent_dim)

    def _objective(self, x, seed, training):
        """`{"loss", "elbo", "kl", "reconstruction"}` per example for prepared `x`."""
        k = self.num_samples
        iwae = self.objective == "iwae"
        terms = self.compute_terms(
            x,
            seed,
            num_samples=k,
            training=training,
            densities=iwae,
            per_dimension=self.free_bits > 0 and not iwae,
        )
        reconstruction = -tf.reduce_mean(terms["log_px_z"], axis=0)
        elbo = -reconstruction - terms["kl"]
        if iwae:
            loss = -iwae_bound(terms["log_px_z"] + terms["log_pz"] - terms["log_qz"])
        else:
            weight = self.kl_weight(training)
            loss = reconstruction + self.kl_penalty(terms["kl"], terms["kl_per_dim"], weight)
        return {"loss": loss, "elbo": elbo, "kl": terms["kl"], "reconstruction": reconstruction}

    def evaluation_order(self, x):
        """A permutation of the examples `x` (NumPy) in which batched evaluation visits them,
        or None (as given).

        A family whose cost per batch depends on the batch's contents groups like examples
        (`SequenceVAE`: sentences of like length); the results come back in the given order.
        """
        return None

    #: Decoder outputs per chunk of the importance-weighted estimate (`max_elements`'s default):
    #: a family whose decoder holds many activations per output lowers it. The chunk fixes the
    #: draws (chunk i's noise is keyed by `fold_in(seed, i)`), so changing it changes the samples.
    IW_MAX_ELEMENTS = 2**24
    #: Decoder outputs per piece: a chunk's draws are decoded and scored a piece at a time (the draws
    #: stay those of the chunk), so the decoder's activations and the prior's `[piece * B, components]`
    #: tensors stay small enough for the CPU's caches (benchmarks/README.md, evaluation speed).
    IW_PIECE_ELEMENTS = 2**19

    def importance_weighted_log_likelihood(self, x, num_samples, seed):
        """Importance-weighted log p(x) `[B]` for prepared `x`, keyed by one stateless `seed` (`[2]`)."""
        return self._iw_log_likelihood(x, num_samples, seed)

    def _iw_log_likelihood(self, x, num_samples, seed, max_elements=None, keys=None):
        """Importance-weighted log p(x) `[B]` for prepared `x`, K samples in memory-bounded chunks.

        With `seed` (`[2]`), chunk i draws `[chunk, B, latent]` noise keyed by
        `fold_in(seed, i)`, the chunk sized by `max_elements`. With `keys`
        (`[B, 2]`, one per row), row b's samples come in blocks of
        `ROW_BLOCK` keyed by `fold(keys[b], i)` alone, whatever the batch.
        Each chunk's draws are then scored in pieces of at most
        `min(max_elements, IW_PIECE_ELEMENTS)` decoder outputs (the last piece
        of a chunk may be smaller), and added up in a running sum, so the draws,
        and the estimate beyond float32 rounding, do not depend on them.
        """
        num_samples = tf.cast(check_num_samples(num_samples), tf.int32)
        batch = tf.shape(x)[0]
        max_elements = self.IW_MAX_ELEMENTS if max_elements is None else max_elements
        outputs_per_sample = tf.maximum(batch, 1) * (
            int(np.prod(self.data_shape)) * self.likelihood.num_params
        )
        if keys is None:
            chunk = tf.maximum(1, max_elements // outputs_per_sample)
            chunk = tf.minimum(chunk, num_samples)
        else:
            keys = stream(keys, IMPORTANCE)
            chunk = tf.constant(ROW_BLOCK)
        # Pieces of the chunk's draws: `full` pieces of at most `piece_elements` outputs, then the rest.
        piece_elements = min(int(max_elements), int(self.IW_PIECE_ELEMENTS))
        piece = tf.clip_by_value(piece_elements // outputs_per_sample, 1, chunk)
        full = chunk // piece
        params = self._posterior_params(x)
        q = self.posterior_from_parameters(params)
        prior = self._prior_distribution()

        def noise(i):
            if keys is None:
                return tf.random.stateless_normal(
                    [chunk, batch, self.latent_dim], tf.random.experimental.stateless_fold_in(seed, i)
                )
            block = per_row_normal(fold(keys, i), [ROW_BLOCK, self.latent_dim])
            return tf.transpose(block, [1, 0, 2])

        def log_weights(eps):
            z = self.reparameterize(params, eps)
            return self._log_px_z(z, x) + prior.log_prob(z) - q.log_prob(z)

        def body(i, top, total):
            eps = noise(i)

            def score(start, size, top, total):
                """Adds the weights of draws `start:start + size` to the running sum `total` of
                exp(log w - top), `top` the running maximum of log w (both `[B]`)."""
                log_w = log_weights(eps[start : start + size])
                valid = i * chunk + start + tf.range(size) < num_samples  # the last chunk may overshoot
                log_w = tf.where(valid[:, None], log_w, -np.inf)
                new_top = tf.maximum(top, tf.reduce_max(log_w, axis=0))
                shift = tf.where(tf.math.is_finite(new_top), new_top, 0.0)
                new_total = total * tf.exp(top - shift) + tf.reduce_sum(tf.exp(log_w - shift), axis=0)
                new_top.set_shape(top.shape)  # the loop's shapes stay those it enters with
                new_total.set_shape(total.shape)
                return new_top, new_total

            def more(j, *_):  # pieces wholly past the K-th draw are skipped
                return (j < full) & (i * chunk + j * piece < num_samples)

            _, top, total = tf.while_loop(
                more, lambda j, top, total: (j + 1, *score(j * piece, piece, top, total)), (0, top, total)
            )
            rest = full * piece  # the chunk's last draws when `piece` does not divide it
            top, total = tf.cond(
                (rest < chunk) & (i * chunk + rest < num_samples),
                lambda: score(rest, chunk - rest, top, total),
                lambda: (top, total),
            )
            return i + 1, top, total

        # A running (maximum, sum of exp(log w - maximum)) rather than a running logsumexp: adding a
        # piece then rounds the sum (relative 1e-7), not log p(x) (1.5e-5 at -200 nats, per piece).
        chunks = (num_samples + chunk - 1) // chunk
        top = tf.fill([batch], tf.constant(-np.inf, tf.float32))
        _, top, total = tf.while_loop(
            lambda i, *_: i < chunks, body, (tf.constant(0), top, tf.zeros([batch], tf.float32))
        )
        return top + tf.math.log(total) - tf.math.log(tf.cast(num_samples, tf.float32))


__all__ = ["KL_MODES", "OBJECTIVES", "ObjectivesMixin", "free_bits_kl", "iwae_bound"]
