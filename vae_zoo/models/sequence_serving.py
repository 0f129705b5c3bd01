"""`SequenceVAE`'s serving contract: one ancestral draw per row, and the signatures' sentence hooks.

Row i of a served draw depends on row i's seed and temperature alone: z from
the prior and the tokens decoded from it are keyed by that row's stateless
key (`vae_zoo.utils.seeds.row_keys`, the likelihood draw on its own stream),
so TF Serving's batching never changes a sentence. Models with a vocabulary
read and write strings in the SavedModel signatures (`sentences`, a `[B]`
string tensor) and add `max_length` and `vocab_size` to the metadata; models
without one (token ids, real-valued series) keep `VAE`'s encode, decode and
reconstruct hooks and answer their draws as `x`. `decode_sample` takes a
temperature per row besides z and the seed.
"""

import tensorflow as tf

from vae_zoo.utils.seeds import LIKELIHOOD, row_keys, stream


class ServingMixin:
    """Per-row draws and the serving hooks of `SequenceVAE` (uses its decoder, codec and prior)."""

    def likelihood_rows(self, z, keys, temperatures=None):
        """One ancestral draw of p(x|z) per row (at `temperatures`, default 1), row i keyed by `keys[i]`."""
        z = tf.convert_to_tensor(z, tf.float32)
        if temperatures is None:
            temperatures = tf.ones([tf.shape(z)[0]])
        return self.generate_rows(z, temperatures, stream(keys, LIKELIHOOD))

    def _sample_rows(self, keys, temperatures):
        """z from the prior (temperature 1) and its tokens drawn at `temperatures`, one row per key."""
        z = self.prior_rows(keys, tf.ones_like(tf.cast(temperatures, tf.float32)))
        return {"ids": self.likelihood_rows(z, keys, temperatures), "z": z}

    def serving_data_spec(self):
        if self.codec is None:
            return super().serving_data_spec()
        return tf.TensorSpec([None], tf.string, name="sentences")

    def serving_decode(self, z):
        if self.codec is None:
            return super().serving_decode(z)
        return {"sentences": self.detokenize(self.generate_ids(z))}

    def serving_reconstruct(self, data):
        if self.codec is None:
            return super().serving_reconstruct(data)
        return {"sentences": self.detokenize(self.generate_ids(self.encode_outputs(data)["mean"]))}

    def serving_decode_sample_specs(self):
        return [self._z_spec(), self._seed_spec(), self._temperature_spec()]

    def serving_decode_sample(self, z, seed, temperature):
        ids = self.likelihood_rows(z, row_keys(seed), temperature)
        return {"sentences": self.detokenize(ids)} if self.codec is not None else {"x": ids}

    def serving_sample(self, seed, temperature):
        rows = self._sample_rows(row_keys(seed), temperature)
        if self.codec is None:
            return {"x": rows["ids"], "z": rows["z"]}
        return {"sentences": self.detokenize(rows["ids"]), "z": rows["z"]}

    def serving_metadata(self):
        metadata = super().serving_metadata()
        if self.codec is not None:
            metadata.update(max_length=self.max_length, vocab_size=self.vocab_size)
        return metadata
