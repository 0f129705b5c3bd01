"""`TopDownGaussian`: a distribution over the latents of several stochastic layers, drawn top down.

z = [z_0, z_1, ..., z_{L-1}] (concatenated, the top layer first):

    z_0 ~ top                                   (any `tfd` distribution with event `[d_0]`)
    z_i | z_0..z_{i-1} ~ N(loc_i, diag(scale_i^2)),  (loc_i, scale_i) = f_i(z_0..z_{i-1})

so log p(z) = log top(z_0) + sum_i log N(z_i; loc_i, scale_i). A hierarchical VAE's prior p(z) and
its top-down posterior q(z|x) (the conditionals then also read x) both have this form
(Sønderby et al. 2016, "Ladder Variational Autoencoders"; Vahdat & Kautz 2020, NVAE). The
conditionals come from the model (`walk`), so this class holds no weights.

`mean()` is the *path of conditional means*: z_0 = E[z_0], z_i = loc_i(z_0..z_{i-1}) at the path's
own upper values. It is E[z] for the top layer; for the layers below, E[z_i] = E[loc_i(...)] has no
closed form, and the path is its plug-in value (what a hierarchical VAE's `reconstruct` decodes).
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


class TopDownGaussian(tfd.Distribution):
    """p(z) = top(z_0) prod_i N(z_i; loc_i(z_<i), scale_i(z_<i)) over `z` `[..., *batch_shape, sum(sizes)]`.

    Args:
        top: the top layer's distribution (event `[sizes[0]]`), e.g. a standard normal, a
            mixture, a VampPrior, or q(z_0|x).
        sizes: the layers' sizes, top first.
        walk: `walk(z_top, lower, draw)` -> `(z, [(loc_i, scale_i), ...])` for the layers below
            the top: with `draw=True`, `lower` is standard normal noise `[..., sum(sizes[1:])]` and
            each z_i is drawn from it in turn (`loc_i + scale_i * eps_i`); with `draw=False`, `lower`
            is the lower layers' z. `z` is the concatenated latents.
        mean_path: a callable returning the path of conditional means `[*batch_shape, sum(sizes)]`
            (`mean()`; computed when asked).
        batch_shape: the batch shape (`[]` for a prior, `[B]` for a posterior).
    """

    def __init__(self, top, sizes, walk, mean_path, batch_shape, name="TopDownGaussian"):
        parameters = dict(locals())
        self.top = top
        self.sizes = tuple(int(s) for s in sizes)
        self._walk = walk
        self._mean_path = mean_path
        self._batch = tf.TensorShape(batch_shape)
        super().__init__(
            dtype=tf.float32,
            reparameterization_type=tfd.FULLY_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters=parameters,
            name=name,
        )

    def _batch_shape(self):
        return self._batch

    def _batch_shape_tensor(self):
        return tf.shape(self._mean_path())[:-1]

    def _event_shape(self):
        return tf.TensorShape([sum(self.sizes)])

    def _event_shape_tensor(self):
        return tf.constant([sum(self.sizes)], tf.int32)

    def split(self, z):
        """`z` `[..., sum(sizes)]` -> `(z_top, lower)`."""
        return z[..., : self.sizes[0]], z[..., self.sizes[0] :]

    def _sample_n(self, n, seed=None):
        top_seed, lower_seed = tfp.random.split_seed(seed, n=2)
        z_top = self.top.sample(n, seed=top_seed)
        shape = tf.concat([tf.shape(z_top)[:-1], [sum(self.sizes[1:])]], axis=0)
        return self._walk(z_top, tf.random.stateless_normal(shape, lower_seed), True)[0]

    def layer_log_probs(self, z):
        """`[log top(z_0), log N(z_1; ...), ...]`, each `[..., *batch_shape]`."""
        z_top, lower = self.split(z)
        _, conditionals = self._walk(z_top, lower, False)
        lowers = tf.split(lower, list(self.sizes[1:]), axis=-1)
        return [self.top.log_prob(z_top)] + [
            tf.reduce_sum(tfd.Normal(loc, scale).log_prob(value), axis=-1)
            for (loc, scale), value in zip(conditionals, lowers)
        ]

    def _log_prob(self, z):
        return tf.add_n(self.layer_log_probs(z))

    def _mean(self):
        return self._mean_path()


__all__ = ["TopDownGaussian"]
