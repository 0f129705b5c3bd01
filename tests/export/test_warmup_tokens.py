"""The warmup requests' token ids are the empty sentence: `[EOS]` then `[PAD]`, named by `vae_zoo.text`."""

import numpy as np
import tensorflow as tf

from vae_zoo import text
from vae_zoo.export import warmup


def test_token_rows_are_the_empty_sentence():
    spec = tf.TensorSpec([None, 5], tf.int32, name="x")
    tokens = warmup._example(spec, 3)
    assert tokens.dtype == np.int32 and tokens.shape == (3, 5)
    assert (tokens[:, 0] == text.EOS).all() and (tokens[:, 1:] == text.PAD).all()
