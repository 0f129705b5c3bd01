"""The serving contract of a VAE: the SavedModel signatures `vae_zoo.export` writes, and their metadata.

Export writes whatever `serving_signatures()` returns, so a family with other
inputs (e.g. strings) overrides it and exports without new export code.
"""

import tensorflow as tf


class SignaturesMixin:
    """`serving_signatures` and `serving_metadata` of `VAE` (built from its contract methods)."""

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
