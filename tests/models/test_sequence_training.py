"""How SequenceVAE trains: under the mixed-precision policies (compute dtypes, exact token ids, saving),
and with word-dropout masks keyed by the seed and the optimizer step, so a resumed run draws the masks
of the uninterrupted one.
"""

import keras
import numpy as np
import tensorflow as tf

from vae_zoo import text
from vae_zoo.models import SequenceVAE
from vae_zoo.text import TextCodec


def test_mixed_precision(corpus, tmp_path):
    codec = TextCodec.from_corpus(corpus[:500], max_length=10, max_tokens=300)
    ids = codec.tokenize(corpus[:256]).numpy()
    for policy, compute in (("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")):
        keras.mixed_precision.set_global_policy(policy)
        try:
            for conditioning in ("both", "input"):
                model = SequenceVAE(
                    vocabulary=codec.vocabulary,
                    max_length=10,
                    embedding_dim=8,
                    hidden_units=16,
                    latent_dim=4,
                    conditioning=conditioning,
                    seed=0,
                )
                assert (
                    model.decoder_lstm.compute_dtype == compute
                    and model.decoder_embedding.compute_dtype == compute
                )
                assert (
                    model.decoder_output.compute_dtype == "float32"
                    and model.posterior.compute_dtype == "float32"
                )
                model.compile(optimizer="adam")
                history = model.fit(ids, batch_size=32, epochs=1, verbose=0).history
                assert np.isfinite(history["loss"][0])
                params = model._likelihood_params(
                    model.encode(ids[:2]).mean(), targets=model.prepare_inputs(ids[:2])
                )
                assert params["logits"].dtype == tf.float32
                assert model.encode(ids[:2]).mean().dtype == tf.float32
                # token ids reach the embeddings exactly (bfloat16 would round 257 to 256)
                near = np.array([[257, text.EOS] + [text.PAD] * 8, [256, text.EOS] + [text.PAD] * 8], "int32")
                assert np.abs(np.diff(model.encode(near).mean().numpy(), axis=0)).max() > 0
                path = tmp_path / f"{policy}_{conditioning}.keras"
                model.save(path)
                restored = keras.models.load_model(path)
                np.testing.assert_array_equal(
                    restored.generate_ids(tf.zeros((2, 4))), model.generate_ids(tf.zeros((2, 4)))
                )
                np.testing.assert_allclose(
                    restored.elbo(ids[:4], seed=1), model.elbo(ids[:4], seed=1), rtol=1e-6
                )
        finally:
            keras.mixed_precision.set_global_policy("float32")


def test_word_dropout_is_keyed_by_seed_and_step(corpus, tmp_path):
    """A run interrupted after one epoch and resumed from its .keras file draws the same word-dropout
    masks as the uninterrupted run, so both end with the same weights."""
    codec = TextCodec.from_corpus(corpus[:300], max_length=8, max_tokens=200)
    ids = codec.tokenize(corpus[:64]).numpy()

    def fresh():
        keras.utils.set_random_seed(0)
        model = SequenceVAE(
            vocabulary=codec.vocabulary,
            max_length=8,
            embedding_dim=8,
            hidden_units=8,
            latent_dim=3,
            word_dropout=0.5,
            seed=4,
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), steps_per_execution=1)
        return model

    straight = fresh()
    straight.fit(ids, batch_size=32, epochs=2, shuffle=False, verbose=0)
    first = fresh()
    first.fit(ids, batch_size=32, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "epoch1.keras")
    resumed = keras.models.load_model(tmp_path / "epoch1.keras")
    resumed.fit(ids, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_word_dropout_masks_change_with_the_step_and_reproduce(corpus):
    """Two SGD steps on the same batch drop different words (the masks are keyed by the optimizer step,
    not the seed alone); a fresh model with the same seed drops the same words at each step, another seed
    other words; about `word_dropout` of the positions are dropped."""
    codec = TextCodec.from_corpus(corpus[:300], max_length=8, max_tokens=200)
    ids = codec.tokenize(corpus[:16]).numpy()

    def masks(seed):
        keras.utils.set_random_seed(0)
        model = SequenceVAE(
            vocabulary=codec.vocabulary,
            max_length=8,
            embedding_dim=8,
            hidden_units=8,
            latent_dim=3,
            word_dropout=0.5,
            seed=seed,
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), steps_per_execution=1, run_eagerly=True)
        drawn, draw = [], model._word_dropout_mask
        model._word_dropout_mask = lambda *args: drawn.append(draw(*args).numpy()) or tf.constant(drawn[-1])
        model.fit(np.concatenate([ids, ids]), batch_size=len(ids), epochs=1, shuffle=False, verbose=0)
        assert int(model.optimizer.iterations) == 2 and len(drawn) == 2, len(drawn)
        return drawn

    step0, step1 = masks(seed=4)
    assert step0.shape == step1.shape == (16, 8)
    assert 0.35 < step0.mean() < 0.65 and 0.35 < step1.mean() < 0.65, (step0.mean(), step1.mean())
    assert (step0 != step1).mean() > 0.3, (step0 != step1).mean()  # independent masks differ at about half
    again = masks(seed=4)
    np.testing.assert_array_equal(again[0], step0)
    np.testing.assert_array_equal(again[1], step1)
    other = masks(seed=5)
    assert (other[0] != step0).mean() > 0.3 and (other[1] != step1).mean() > 0.3


def test_a_step_reads_only_the_positions_its_batch_uses_and_computes_the_same(corpus):
    """Short sentences padded to 24 positions: the step cut after the batch's longest sentence gives
    the loss and gradients of the step over all 24 (word dropout and the bidirectional encoder
    included), while the decoder reads fewer positions. Cutting one position too many (into the
    longest sentence) or drawing the dropout mask over the cut length would change the numbers."""
    codec = TextCodec.from_corpus(corpus[:500], max_length=24, max_tokens=300)
    ids = codec.tokenize(corpus[:16]).numpy()
    used = int((ids != text.PAD).sum(axis=1).max())
    assert used < 24
    model = SequenceVAE(
        vocabulary=codec.vocabulary,
        max_length=24,
        embedding_dim=8,
        hidden_units=16,
        latent_dim=4,
        word_dropout=0.3,
        num_samples=2,
        seed=0,
    )
    seed = tf.constant([5, 7])
    read = []
    original = model._decoder_inputs

    def recording(z, targets, training, seed=None):
        read.append(int(targets.shape[1]))
        return original(z, targets, training, seed)

    model._decoder_inputs = recording

    def step(cut):
        # The uncut step: what `used_positions` gives under XLA's static shapes (every position).
        model.used_positions = (lambda x: x) if not cut else type(model).used_positions.__get__(model)
        with tf.GradientTape() as tape:
            loss = model._objective(tf.constant(ids), seed, training=True)["loss"]
            total = tf.reduce_sum(loss)
        gradients = tape.gradient(total, model.trainable_variables)
        return loss.numpy(), [None if g is None else tf.convert_to_tensor(g).numpy() for g in gradients]

    cut_loss, cut_grads = step(cut=True)
    full_loss, full_grads = step(cut=False)
    assert read == [used, 24]
    np.testing.assert_allclose(cut_loss, full_loss, rtol=1e-5)
    assert sum(g is not None for g in cut_grads) > 10
    for a, b in zip(cut_grads, full_grads):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
