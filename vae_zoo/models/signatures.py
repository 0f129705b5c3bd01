"""The serving contract of a VAE: the SavedModel signatures `vae_zoo.export` writes, written once.

Every input of every signature is batch-major (`[B, ...]`, B unknown), so TF
Serving's batcher can concatenate concurrent requests along dimension 0, and
row i's outputs depend on row i's inputs alone, so how requests are batched
never changes a result:

signature: inputs -> outputs

* `encode`: data -> `mean`, `stddev` (+ `scale_tril` for a full covariance)
* `decode`: `z` [B, L] -> images: the likelihood's parameters and `mean`;
  sentences: `sentences` (greedy)
* `reconstruct` = `serving_default`: data -> images: `reconstruction` (the mean
  at the posterior mean); sentences: `sentences`
* `encode_sample`: data, `seed` -> `z`: one draw of q(z|x) per row
* `decode_sample`: `z`, `seed` (sentences: + `temperature`) -> images: `x`, one
  draw of p(x|z) per row; sentences: `sentences`
* `sample`: `seed`, `temperature` -> `z` (one prior draw per row) and `x`
  (images: the likelihood mean) or `sentences`
* `log_likelihood`: data, `seed` -> `log_likelihood` [B], nats, K samples fixed
  at export

Data is `x` `[B, *input_shape]` (float32 images in [0, 1], int32 token ids)
or `sentences` `[B]` strings for sentence models. `seed` is int64 `[B]`, one
per row; `temperature` float32 `[B]`. Row seed s keys its row with all 64
bits, folded with one stream per kind of draw (`vae_zoo.utils.seeds`: distinct
seeds never share a key): the Python methods use row seeds `s, s + 1, ...`,
so `model.sample(n, seed=s, temperature=t)` equals the `sample` signature with
`seed = s + arange(n)`, `temperature = [t] * n`.

The export adds per-row validity to each of them (`vae_zoo/export/row_isolation.py`,
with `serving_row_errors` of `inputs.py`): an `error` output per row, invalid rows
masked, so one bad row never fails its batch-mates.

`model.export(filepath, format=...)` (`exporting.py`, mixed in here) writes
them in the format asked for.

A family changes what its data and outputs are through the `serving_*` hooks
below (the sentence model does); it never writes export code.
"""

import tensorflow as tf

from vae_zoo.models.exporting import ExportMixin
from vae_zoo.models.inputs import check_num_samples
from vae_zoo.utils.seeds import row_keys


class SignaturesMixin(ExportMixin):
    """`serving_signatures` and `serving_metadata` of `VAE` (built from its contract methods), and
    `export(filepath, format=...)`, which writes them (`exporting.py`)."""

    #: K of the exported `log_likelihood` signature unless
    #: `export_saved_model(..., log_likelihood_samples=K)`.
    DEFAULT_LOG_LIKELIHOOD_SAMPLES = 100

    # ------------------------------------------------------------ family hooks (images by default)

    def serving_data_spec(self):
        """The data input of the signatures."""
        dtype = tf.int32 if self.likelihood.integer_events else tf.float32
        return tf.TensorSpec([None, *self.data_shape], dtype, name="x")

    def serving_decode(self, z):
        """`decode(z)`: the likelihood's parameters and mean."""
        return self.decode_outputs(z)

    def serving_reconstruct(self, data):
        """`reconstruct(data)`: the likelihood mean at the posterior mean."""
        return {"reconstruction": self.reconstruct(data)}

    def serving_decode_sample_specs(self):
        return [self._z_spec(), self._seed_spec()]

    def serving_decode_sample(self, z, seed):
        """`decode_sample(z, seed)`: one draw of p(x|z) per row."""
        return {"x": self.likelihood_rows(z, row_keys(seed))}

    def serving_sample(self, seed, temperature):
        """`sample(seed, temperature)`: one tempered prior draw per row and its likelihood mean."""
        z = self.prior_rows(row_keys(seed), temperature)
        return {"x": self.likelihood.mean(self._likelihood_params(z)), "z": z}

    # ------------------------------------------------------------ the contract

    def _z_spec(self):
        return tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")

    @staticmethod
    def _seed_spec():
        return tf.TensorSpec([None], tf.int64, name="seed")

    @staticmethod
    def _temperature_spec():
        return tf.TensorSpec([None], tf.float32, name="temperature")

    def serving_signatures(self, log_likelihood_samples=None):
        """`{name: (function, [tf.TensorSpec, ...])}` of the exported SavedModel signatures.

        `log_likelihood_samples`: K of the `log_likelihood` signature (default
        `DEFAULT_LOG_LIKELIHOOD_SAMPLES`), fixed in the graph. Outputs are dicts of
        tensors; `serving_default` is `reconstruct` (added by the export).
        """
        samples = (
            self.DEFAULT_LOG_LIKELIHOOD_SAMPLES if log_likelihood_samples is None else log_likelihood_samples
        )
        samples = check_num_samples(samples, "log_likelihood_samples")
        data, seed = self.serving_data_spec(), self._seed_spec()

        def encode_sample(data, seed):
            return {"z": self.posterior_rows(self.prepare_inputs(data), row_keys(seed))}

        def log_likelihood(data, seed):
            x = self.prepare_inputs(data)
            return {"log_likelihood": self._iw_log_likelihood(x, samples, None, keys=row_keys(seed))}

        return {
            "encode": (self.encode_outputs, [data]),
            "decode": (self.serving_decode, [self._z_spec()]),
            "reconstruct": (self.serving_reconstruct, [data]),
            "encode_sample": (encode_sample, [data, seed]),
            "decode_sample": (self.serving_decode_sample, self.serving_decode_sample_specs()),
            "sample": (self.serving_sample, [seed, self._temperature_spec()]),
            "log_likelihood": (log_likelihood, [data, seed]),
        }

    def serving_metadata(self):
        """Facts recorded in the export's `assets.extra/vae_zoo.json`."""
        data = self.serving_data_spec()
        return {
            "input_shape": list(self.data_shape),
            "input_name": data.name,
            "input_dtype": data.dtype.name,
            "likelihood": type(self.likelihood).__name__,
            "latent_dim": self.latent_dim,
        }
