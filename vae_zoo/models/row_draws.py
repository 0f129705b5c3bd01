"""Draws keyed per row: the randomness of the serving contract.

Row i of every draw here is keyed by `keys[i]` alone (`vae_zoo.utils.seeds`: a row seed's 64-bit key,
folded with one stream per kind of draw), so an exported signature's row never depends on the other
rows of its batch, and the Python methods (`sample`, `reconstruct(seed=...)`) equal the signatures
for the same row seeds.
"""

import tensorflow as tf

from vae_zoo import distributions as dists
from vae_zoo.utils.seeds import LIKELIHOOD, POSTERIOR, PRIOR, per_row, per_row_normal, stream


class RowDrawsMixin:
    """`prior_rows`, `posterior_rows` and `likelihood_rows` of `VAE` (from its heads)."""

    def prior_rows(self, keys, temperatures):
        """One prior draw per row `[B, latent_dim]`: row i keyed by `keys[i]`,
        spread scaled by `temperatures[i]`."""
        prior = self._prior_distribution()
        return per_row(
            lambda row: dists.tempered_sample(prior, 1, row[0], row[1])[0],
            (stream(keys, PRIOR), tf.cast(temperatures, tf.float32)),
            tf.TensorSpec([self.latent_dim], tf.float32),
        )

    def posterior_rows(self, x, keys):
        """One draw of q(z|x) per row `[B, latent_dim]` for prepared `x`, row i keyed by `keys[i]`."""
        params = self._posterior_params(x)
        return self.reparameterize(params, per_row_normal(stream(keys, POSTERIOR), [self.latent_dim]))

    def likelihood_rows(self, z, keys):
        """One draw of p(x|z) per row `[B, *input_shape]`, row i keyed by `keys[i]`."""
        params = self._likelihood_params(tf.convert_to_tensor(z, tf.float32))
        dtype = tf.int32 if self.likelihood.integer_events else tf.float32
        return per_row(
            lambda row: tf.cast(self.likelihood.distribution(row[0]).sample(seed=row[1]), dtype),
            (params, stream(keys, LIKELIHOOD)),
            tf.TensorSpec(self.data_shape, dtype),
        )
