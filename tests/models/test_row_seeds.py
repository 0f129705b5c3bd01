"""Seeds of the Python methods and the exported `sample`: one documented form each, every bit used."""

import numpy as np
import pytest
import tensorflow as tf

import vae_zoo
from vae_zoo.text import TextCodec

M = 2**31 - 1


@pytest.fixture(scope="module")
def dense():
    return vae_zoo.models.DenseVAE((4, 4, 1), latent_dim=2, hidden_units=(8,), seed=0)


def test_exported_sample_gives_every_seed_its_own_draw(dense, tmp_path):
    sample = tf.saved_model.load(vae_zoo.export_saved_model(dense, str(tmp_path), warmup=False)).signatures[
        "sample"
    ]
    seeds = np.arange(20_000, dtype=np.int64)
    z = sample(seed=tf.constant(seeds), temperature=tf.ones([len(seeds)]))["z"].numpy()
    assert len(np.unique(z, axis=0)) == len(seeds)
    # seeds that agreed modulo the old 31-bit key words drew the same z before
    for shift in (M**2, 2**32):
        pairs = np.array([5, 6, 7], np.int64)
        a = sample(seed=tf.constant(pairs), temperature=tf.ones([3]))["z"].numpy()
        b = sample(seed=tf.constant(pairs + shift), temperature=tf.ones([3]))["z"].numpy()
        assert np.abs(a - b).min() > 1e-4, shift
    # the Python method is the signature at seed + arange(n)
    np.testing.assert_allclose(
        dense.sample_latents(3, seed=2**40).numpy(),
        sample(seed=tf.constant(2**40 + np.arange(3, dtype=np.int64)), temperature=tf.ones([3]))["z"].numpy(),
        atol=1e-6,
    )


def test_log_likelihood_takes_a_batch_seed_or_row_seeds_never_both(dense):
    x = np.random.default_rng(0).random((2, 4, 4, 1)).astype("float32")
    by_rows = dense.log_likelihood(x, num_samples=5, row_seeds=[11, 12]).numpy()
    # row seeds key each row alone: the same row with the same seed in another batch gives the same estimate
    np.testing.assert_allclose(
        dense.log_likelihood(x[1:], num_samples=5, row_seeds=[12]).numpy(), by_rows[1:], rtol=1e-6
    )
    # a two-row batch with an int32 pair is no longer ambiguous: seed is one int, row_seeds one per row
    with pytest.raises(ValueError, match="seed must be an int or None"):
        dense.log_likelihood(x, num_samples=5, seed=np.array([11, 12], np.int64))
    with pytest.raises(ValueError, match="not both"):
        dense.log_likelihood(x, num_samples=5, seed=1, row_seeds=[1, 2])
    with pytest.raises(ValueError, match=r"row_seeds must hold one seed per row of x \(2\)"):
        dense.log_likelihood(x, num_samples=5, row_seeds=[1, 2, 3])


def test_sample_sentences_refuses_a_count_below_one():
    codec = TextCodec.from_corpus(["a cat sat", "a dog ran"], max_length=6)
    model = vae_zoo.models.SequenceVAE(
        vocabulary=codec.vocabulary, max_length=6, embedding_dim=4, hidden_units=8, latent_dim=2, seed=0
    )
    for n in (0, -1):
        with pytest.raises(ValueError, match=f"num_samples must be >= 1, got {n}"):
            model.sample_sentences(n, seed=0)
    assert len(model.sample_sentences(2, seed=0)) == 2
