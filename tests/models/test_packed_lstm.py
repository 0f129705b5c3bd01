"""Packed LSTMs (`vae_zoo.models.packed_lstm`) against Keras's masked LSTMs, and SequenceVAE's packed
training and validation steps against its unpacked ones."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import evaluation, text
from vae_zoo.models import SequenceVAE, packed_lstm
from vae_zoo.text import TextCodec

LENGTHS = np.array([3, 9, 1, 0, 5, 9, 2, 6])  # a row of no token, two of all 9 positions, ties


def _ids(lengths, steps=9, vocab=20, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), steps), "int32")
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, vocab, length)
    return ids


def test_packing_lays_tokens_out_time_major_longest_rows_first():
    p = packed_lstm.packing(np.array([2, 0, 3, 2]))
    assert p.order.numpy().tolist() == [2, 0, 3, 1]  # stable among the two rows of length 2
    assert p.sizes.numpy().tolist() == [3, 3, 1]
    assert p.rows.numpy().tolist() == [2, 0, 3, 2, 0, 3, 2]
    assert p.positions.numpy().tolist() == [0, 0, 0, 1, 1, 1, 2]
    values = np.arange(4 * 3).reshape(4, 3)
    np.testing.assert_array_equal(packed_lstm.pack(values, p), [6, 0, 9, 7, 1, 10, 8])


def test_run_lstm_equals_the_keras_layer_outputs_states_and_gradients():
    """Outputs at every token, each row's last output and the weight gradients equal Keras's LSTM
    (a non-zero initial state, rows of every length). Catches a gate order other than i, f, c, o,
    a state not kept for finished rows, and final states returned in the sorted order."""
    rng = np.random.default_rng(1)
    keras.utils.set_random_seed(0)
    lstm = keras.layers.LSTM(6, return_sequences=True, return_state=True)
    x = rng.normal(size=(len(LENGTHS), 9, 5)).astype("float32")
    state = [rng.normal(size=(len(LENGTHS), 6)).astype("float32") for _ in range(2)]
    p = packed_lstm.packing(LENGTHS)
    mask = np.arange(9)[None, :] < LENGTHS[:, None]
    with tf.GradientTape(persistent=True) as tape:
        outputs, last, _ = lstm(x, initial_state=state, mask=mask)
        reference = tf.reduce_sum(packed_lstm.pack(outputs, p) ** 2) + tf.reduce_sum(last**3)
        packed, final = packed_lstm.run_lstm(lstm, packed_lstm.pack(x, p), p, state)
        ours = tf.reduce_sum(packed**2) + tf.reduce_sum(final**3)
    assert packed.shape == (LENGTHS.sum(), 6)
    np.testing.assert_allclose(packed, packed_lstm.pack(outputs, p), atol=1e-6)
    np.testing.assert_allclose(final[3], state[0][3])  # a row of no token keeps its initial h
    np.testing.assert_allclose(final, np.where(LENGTHS[:, None] > 0, last, state[0]), atol=1e-6)
    for a, b in zip(
        tape.gradient(reference, lstm.trainable_variables), tape.gradient(ours, lstm.trainable_variables)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_encode_final_equals_the_masked_bidirectional_encoder():
    """The forward and backward LSTMs' last outputs, concatenated, as the masked `Bidirectional`
    layer gives them (the backward one reads each row's tokens reversed, its padding left out)."""
    keras.utils.set_random_seed(0)
    ids = _ids(LENGTHS)
    embedding = keras.layers.Embedding(20, 5, mask_zero=True)
    for rnn in (keras.layers.Bidirectional(keras.layers.LSTM(6), merge_mode="concat"), keras.layers.LSTM(6)):
        encoder = keras.Sequential([keras.Input((9,), dtype="int32"), embedding, rnn])
        p = packed_lstm.packing(packed_lstm.pad_lengths(ids, 0))
        np.testing.assert_allclose(packed_lstm.encode_final(rnn, embedding(ids), p), encoder(ids), atol=1e-6)
    with pytest.raises(ValueError, match="LSTM or a Bidirectional LSTM"):
        packed_lstm.encode_final(keras.layers.GRU(6), embedding(ids), p)


def test_padding_before_a_token_is_refused():
    ids = _ids([3, 2])
    ids[0, 1] = 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be right-padded"):
        packed_lstm.pad_lengths(ids, 0)


def _sentence_model(corpus, **kwargs):
    codec = TextCodec.from_corpus(corpus[:500], max_length=24, max_tokens=300)
    keras.utils.set_random_seed(0)
    model = SequenceVAE(
        vocabulary=codec.vocabulary,
        max_length=24,
        embedding_dim=8,
        hidden_units=16,
        latent_dim=4,
        seed=0,
        **kwargs,
    )
    return model, codec.tokenize(corpus[:32]).numpy()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"word_dropout": 0.3, "num_samples": 2},
        {"word_dropout": 0.3, "sampled_softmax": 64, "bidirectional_encoder": False},
        {"word_dropout": 0.0, "conditioning": "initial_state", "posterior": "diagonal"},
    ],
)
def test_packed_steps_compute_the_unpacked_loss_and_gradients(corpus, kwargs):
    """The training step's per-example loss and every gradient, and the validation step's loss, are
    those of the step with the layers' own masked calls (word dropout, the sampled softmax, k = 2
    draws, either encoder). Catches packed targets that are not the packed decoder outputs' rows,
    per-token terms summed into the wrong sentence, and a backward encoder that reads the padding."""
    model, ids = _sentence_model(corpus, **kwargs)
    lengths = (ids != text.PAD).sum(axis=1)
    assert len(set(lengths)) > 8 and lengths.max() == 24 and lengths.mean() < 16  # work for packing
    seed = tf.constant([5, 7])
    calls, run_lstm = [], packed_lstm.run_lstm

    def step(packed, training):
        model.packed_steps = packed
        with tf.GradientTape() as tape:
            loss = model._objective(tf.constant(ids), seed, training=training)["loss"]
            total = tf.reduce_sum(loss)
        return loss.numpy(), tape.gradient(total, model.trainable_variables)

    packed_lstm.run_lstm = lambda *args: calls.append(1) or run_lstm(*args)
    try:
        packed_loss, packed_grads = step(True, True)
        assert len(calls) == (3 if model.bidirectional_encoder else 2)
        calls.clear()
        plain_loss, plain_grads = step(False, True)
        assert calls == []
        validation = [step(packed, False)[0] for packed in (True, False)]
    finally:
        packed_lstm.run_lstm = run_lstm
        model.packed_steps = True
    np.testing.assert_allclose(packed_loss, plain_loss, rtol=1e-5)
    np.testing.assert_allclose(validation[0], validation[1], rtol=1e-5)
    compared = 0
    for a, b in zip(packed_grads, plain_grads):
        assert (a is None) == (b is None)
        if a is not None:
            compared += 1
            a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()
            # float32 sums in another order: within 1e-4 of the gradient's largest entry
            assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max() + 1e-7, np.abs(a - b).max() / np.abs(b).max()
    assert compared > 10


def test_fit_and_evaluate_run_packed_steps_while_the_estimate_and_exports_do_not(corpus):
    model, ids = _sentence_model(corpus, word_dropout=0.25)
    calls, run_lstm = [], packed_lstm.run_lstm
    packed_lstm.run_lstm = lambda *args: calls.append(1) or run_lstm(*args)
    try:
        model.compile(optimizer="adam")
        history = model.fit(ids, batch_size=16, epochs=2, verbose=0).history
        assert calls, "the training step ran no packed LSTM"
        assert history["loss"][1] < history["loss"][0]
        calls.clear()
        model.evaluate(ids, batch_size=16, verbose=0)
        assert calls, "the validation step ran no packed LSTM"
        calls.clear()
        evaluation.log_likelihood(model, ids[:4], num_samples=3, batch_size=4, progress=False)
        model.encode(ids[:4]).mean()
        assert calls == []
    finally:
        packed_lstm.run_lstm = run_lstm
    bad = ids.copy()
    bad[0, 0] = text.PAD  # padding before the row's tokens
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be right-padded"):
        model.evaluate(bad, batch_size=16, verbose=0)


def test_no_packing_under_xla(corpus):
    _, ids = _sentence_model(corpus)
    keras.utils.set_random_seed(0)
    # Token ids without a vocabulary (XLA compiles no string lookup).
    model = SequenceVAE(vocab_size=300, max_length=24, embedding_dim=8, hidden_units=16, latent_dim=4, seed=0)
    calls, run_lstm = [], packed_lstm.run_lstm
    packed_lstm.run_lstm = lambda *args: calls.append(1) or run_lstm(*args)
    try:
        model.compile(optimizer="adam", jit_compile=True)
        assert model.jit_compile
        model.fit(ids, batch_size=16, epochs=1, verbose=0)
        assert calls == []  # XLA's shapes are static: the step reads every position
        model.compile(optimizer="adam", jit_compile=False)
        model.fit(ids, batch_size=16, epochs=1, verbose=0)
        assert calls  # the same model without XLA: packed
    finally:
        packed_lstm.run_lstm = run_lstm
