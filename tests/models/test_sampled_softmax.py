"""Sampled softmax: the proposal, the estimate against TensorFlow's, and SequenceVAE's training loss."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import evaluation, text
from vae_zoo.models import SequenceVAE
from vae_zoo.models.sampled_softmax import (
    log_uniform_candidates,
    log_uniform_log_prob,
    sampled_log_softmax,
)
from vae_zoo.models.sequence_bounds import used_length


def test_log_uniform_candidates_follow_the_proposal():
    vocab = 12
    q = np.exp(log_uniform_log_prob(np.arange(vocab), vocab).numpy())
    assert abs(q.sum() - 1.0) < 1e-6 and q[0] == pytest.approx(math.log(2) / math.log(13), rel=1e-6)
    ids, log_expected = log_uniform_candidates(200_000, vocab, tf.constant([3, 4]))
    frequencies = np.bincount(ids.numpy(), minlength=vocab) / 200_000
    assert np.abs(frequencies - q).max() < 0.004  # a uniform sampler would be 0.19 off at id 0
    np.testing.assert_allclose(log_expected.numpy(), np.log(200_000 * q[ids.numpy()]), rtol=1e-5)
    again, _ = log_uniform_candidates(200_000, vocab, tf.constant([3, 4]))
    assert (again.numpy() == ids.numpy()).all()  # stateless: the step's seed decides
    # Excluded ids ([PAD] 0 and [BOS] 2) are never drawn; the others follow Q over the 10 allowed ids.
    ids, log_expected = log_uniform_candidates(200_000, vocab, tf.constant([3, 4]), excluded=(0, 2))
    allowed = [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    q_allowed = np.exp(log_uniform_log_prob(np.arange(10), 10).numpy())
    frequencies = np.bincount(ids.numpy(), minlength=vocab) / 200_000
    assert frequencies[[0, 2]].sum() == 0 and np.abs(frequencies[allowed] - q_allowed).max() < 0.004
    position = np.array([allowed.index(i) for i in ids.numpy()])
    np.testing.assert_allclose(log_expected.numpy(), np.log(200_000 * q_allowed[position]), rtol=1e-5)


def _problem(seed=0, n=3, t=5, h=6, vocab=40):
    rng = np.random.default_rng(seed)
    hidden = tf.constant(rng.normal(size=(n, t, h)), tf.float32)
    kernel = tf.constant(rng.normal(size=(h, vocab)), tf.float32)
    bias = tf.constant(rng.normal(size=(vocab,)), tf.float32)
    labels = tf.constant(rng.integers(0, vocab, size=(n, t)), tf.int32)
    return hidden, kernel, bias, labels


def test_matches_tensorflows_sampled_softmax_loss_with_an_exact_target_term():
    hidden, kernel, bias, labels = _problem()
    vocab, num_sampled = 40, 16
    candidates, log_expected = log_uniform_candidates(num_sampled, vocab, tf.constant([0, 7]))
    ours = sampled_log_softmax(hidden, kernel, bias, labels, candidates, log_expected)
    flat_labels = tf.reshape(labels, [-1, 1])
    true_expected = tf.ones(tf.shape(flat_labels))  # our target logit is not corrected by log(S Q(t))
    reference = tf.nn.sampled_softmax_loss(
        weights=tf.transpose(kernel),
        biases=bias,
        labels=flat_labels,
        inputs=tf.reshape(hidden, [-1, 6]),
        num_sampled=num_sampled,
        num_classes=vocab,
        remove_accidental_hits=True,
        sampled_values=(candidates, true_expected, tf.exp(log_expected)),
    )
    hits = (labels.numpy()[..., None] == candidates.numpy()).sum(-1).ravel()
    assert (hits == 1).any() and (hits == 0).any()  # accidental hits occur and are removed
    once = hits <= 1
    np.testing.assert_allclose(-ours.numpy().ravel()[once], reference.numpy()[once], rtol=1e-5, atol=1e-5)
    # A label drawn several times: TensorFlow removes one of its copies, we remove them all (checked by hand).
    assert (hits > 1).any()
    h, w, b, y = (v.numpy() for v in (tf.reshape(hidden, [-1, 6]), kernel, bias, tf.reshape(labels, [-1])))
    c, e = candidates.numpy(), log_expected.numpy()
    for i in np.flatnonzero(hits > 1):
        true = h[i] @ w[:, y[i]] + b[y[i]]
        others = (h[i] @ w[:, c] + b[c] - e)[c != y[i]]
        assert ours.numpy().ravel()[i] == pytest.approx(
            true - np.logaddexp.reduce(np.r_[true, others]), abs=1e-5
        )
        assert -ours.numpy().ravel()[i] < reference.numpy()[i] - 1e-3


def test_converges_to_the_exact_log_softmax_with_many_candidates():
    hidden, kernel, bias, labels = _problem(seed=1)
    exact = tf.gather(
        tf.nn.log_softmax(tf.einsum("nth,hv->ntv", hidden, kernel) + bias), labels, batch_dims=2
    )
    candidates, log_expected = log_uniform_candidates(400_000, 40, tf.constant([5, 5]))
    estimate = sampled_log_softmax(hidden, kernel, bias, labels, candidates, log_expected)
    np.testing.assert_allclose(
        estimate.numpy(), exact.numpy(), atol=0.05
    )  # 0.03 seen: importance-sampling noise
    # Without the -log(S Q) correction of the candidates the estimate is off by about log S.
    uncorrected = sampled_log_softmax(hidden, kernel, bias, labels, candidates, tf.zeros_like(log_expected))
    assert np.abs(uncorrected.numpy() - exact.numpy()).mean() > 5.0
    # tf.nn.sampled_softmax_loss's convention (target corrected too) drifts by log(S Q(t)): 7-12 nats here.
    flat_labels = tf.reshape(labels, [-1, 1])
    tf_convention = -tf.nn.sampled_softmax_loss(
        weights=tf.transpose(kernel),
        biases=bias,
        labels=flat_labels,
        inputs=tf.reshape(hidden, [-1, 6]),
        num_sampled=400_000,
        num_classes=40,
        remove_accidental_hits=False,
        sampled_values=(
            candidates,
            tf.exp(log_uniform_log_prob(flat_labels, 40)) * 400_000,
            tf.exp(log_expected),
        ),
    )
    assert np.abs(tf_convention.numpy() - exact.numpy().ravel()).min() > 5.0


def test_banned_tokens_and_hits_leave_the_normalizer():
    hidden, kernel, bias, labels = _problem(seed=2, vocab=8)
    labels = tf.fill(tf.shape(labels), 5)
    same = tf.constant([5, 5, 5], tf.int32)
    zero = sampled_log_softmax(hidden, kernel, bias, labels, same, tf.zeros([3]))
    np.testing.assert_allclose(zero.numpy(), 0.0, atol=1e-6)  # only the target is left: log 1
    banned = sampled_log_softmax(
        hidden, kernel, bias, labels, tf.constant([0, 2], tf.int32), tf.zeros([2]), (0, 2)
    )
    np.testing.assert_allclose(banned.numpy(), 0.0, atol=1e-6)


def _model(sampled_softmax, vocab=300):
    words = [f"w{i}" for i in range(vocab - len(text.SPECIAL_TOKENS))]
    keras.utils.set_random_seed(0)
    return SequenceVAE(
        vocabulary=words,
        max_length=8,
        embedding_dim=8,
        hidden_units=16,
        latent_dim=4,
        word_dropout=0.0,
        sampled_softmax=sampled_softmax,
        seed=0,
    )


def test_sequence_vae_trains_on_the_sampled_loss_and_evaluates_exactly():
    sampled, exact = _model(32), _model(0)
    ids = np.random.default_rng(0).integers(4, 300, size=(16, 8)).astype("int32")
    ids[:, 5], ids[:, 6:] = text.EOS, text.PAD
    sampled(ids), exact(ids)
    exact.set_weights(sampled.get_weights())
    z = sampled.encode(ids).mean()[None]
    seed = tf.constant([4, 2])
    # Outside training both are the exact categorical log-likelihood.
    np.testing.assert_allclose(
        sampled._log_px_z(z, ids, False, seed), exact._log_px_z(z, ids, False, seed), rtol=1e-6
    )
    # In training, the sampled estimate over the step's candidates (recomputed here by hand).
    train = sampled._log_px_z(z, ids, True, seed).numpy()
    step_seed = tf.random.experimental.stateless_fold_in(seed, 2)
    candidates, log_expected = log_uniform_candidates(32, 300, step_seed, (text.PAD, text.BOS))
    hidden, targets = sampled._decoder_hidden(z[0], ids, True, seed)
    by_hand = sampled_log_softmax(
        hidden,
        sampled.decoder_output.kernel,
        sampled.decoder_output.bias,
        targets,
        candidates,
        log_expected,
        (text.PAD, text.BOS),
    )
    np.testing.assert_allclose(
        train[0], tf.reduce_sum(tf.where(targets == text.PAD, 0.0, by_hand), -1), rtol=1e-5
    )
    assert np.abs(train - exact._log_px_z(z, ids, True, seed).numpy()).max() > 0.1  # not the exact softmax
    # k = 2 samples of z: row i of each sample reads sentence i (k-major), as the exact path does.
    z2 = tf.concat([z, z + 0.5], axis=0)
    both = sampled._log_px_z(z2, ids, True, seed).numpy()
    np.testing.assert_allclose(both[0], train[0], rtol=1e-5)
    shifted = sampled._log_px_z(z + 0.5, ids, True, seed).numpy()[0]
    np.testing.assert_allclose(both[1], shifted, rtol=1e-5)
    # The gradient reaches only the output columns of targets and candidates: no V-wide product.
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(sampled._log_px_z(z, ids, True, seed))
    grad = tape.gradient(loss, sampled.decoder_output.kernel).numpy()
    touched = set(np.flatnonzero(np.abs(grad).sum(0)))
    assert touched <= set(ids.ravel()) | set(candidates.numpy()) and len(touched) < 150
    sampled.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = sampled.fit(ids, batch_size=8, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert SequenceVAE.from_config(sampled.get_config()).sampled_softmax == 32


def test_fit_trains_on_the_sampled_loss(monkeypatch):
    from vae_zoo.models import sequence_bounds

    calls, original = [], sequence_bounds.sampled_log_softmax

    def spy(*args, **kwargs):
        calls.append(args[4].shape[0])  # the number of candidates
        return original(*args, **kwargs)

    monkeypatch.setattr(sequence_bounds, "sampled_log_softmax", spy)
    model = _model(16)
    ids = np.random.default_rng(1).integers(4, 300, size=(16, 8)).astype("int32")
    model.compile(optimizer="adam")
    model.fit(ids, batch_size=8, epochs=1, verbose=0)
    assert calls and set(calls) == {16}  # traced into the training step
    calls.clear()
    model.evaluate(ids, batch_size=8, verbose=0)
    assert calls == []  # evaluation is exact


def test_sampled_softmax_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _model(16)
        ids = np.random.default_rng(2).integers(4, 300, size=(8, 8)).astype("int32")
        model(ids)
        z = model.encode(ids).mean()[None]
        value = model._log_px_z(z, ids, True, tf.constant([1, 1]))
        assert value.dtype == tf.float32 and np.isfinite(value.numpy()).all()
        model.compile(optimizer="adam")
        assert np.isfinite(model.fit(ids, batch_size=8, epochs=1, verbose=0).history["loss"][0])
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(sampled_softmax=-1),
            "sampled_softmax must be a non-negative integer \\(0: exact softmax\\) or 'auto', got -1",
        ),
        (dict(sampled_softmax="many"), "or 'auto', got 'many'"),
        (dict(sampled_softmax=300), "sampled_softmax=300 candidates would not be fewer than the 300 tokens"),
        (dict(sampled_softmax=8, features=3, vocabulary=None), "sampled_softmax applies to token sequences"),
    ],
)
def test_sampled_softmax_refusals(kwargs, message):
    base = dict(vocabulary=[f"w{i}" for i in range(296)], max_length=8, latent_dim=4)
    with pytest.raises(ValueError, match=message):
        SequenceVAE(**{**base, **kwargs})


def test_the_default_samples_the_softmax_of_large_vocabularies_only():
    """ "auto": 1,024 candidates from 5,000 tokens up (where a step was measured faster), exact below
    and for real-valued sequences; an explicit number always wins."""
    for words, expected in ((4_995, 0), (4_996, 1_024)):  # + 4 special tokens: 4,999 and 5,000 tokens
        model = SequenceVAE(vocabulary=[f"w{i}" for i in range(words)], max_length=4, latent_dim=2)
        assert model.vocab_size == words + 4 and model.sampled_softmax == expected
        assert model.get_config()["sampled_softmax"] == expected  # saved as the number it chose
    big = [f"w{i}" for i in range(6_000)]
    assert SequenceVAE(vocabulary=big, max_length=4, latent_dim=2, sampled_softmax=0).sampled_softmax == 0
    series = SequenceVAE(features=3, vocabulary=None, max_length=4, latent_dim=2, likelihood="gaussian")
    assert series.sampled_softmax == 0


def _ragged_ids(lengths, vocab=300, max_length=8):
    """Token ids `[N, max_length]`: sentence i has lengths[i] - 1 words, then [EOS], then [PAD]s."""
    ids = np.full((len(lengths), max_length), text.PAD, "int32")
    rng = np.random.default_rng(1)
    for row, length in enumerate(lengths):
        ids[row, : length - 1] = rng.integers(4, vocab, size=length - 1)
        ids[row, length - 1] = text.EOS
    return ids


def test_evaluation_reads_only_the_positions_the_batch_uses_and_gets_the_same_numbers():
    model = _model(0)
    ids = _ragged_ids([3, 5, 2, 4])  # the longest uses 5 of 8 positions
    model(ids)
    z = tf.concat([model.encode(ids).mean()[None], model.encode(ids).mean()[None] + 0.3], axis=0)
    read = []
    decode_raw = model._decode_raw
    model._decode_raw = lambda z, training=False, targets=None, seed=None: (
        read.append(targets.shape) or decode_raw(z, training, targets, seed)
    )
    trimmed = model._log_px_z(z, ids).numpy()
    del model._decode_raw
    assert read == [(4, 5)]  # the decoder read 5 positions, not max_length 8
    # The reference: the decoder over all 8 positions (decode(z).log_prob does not trim).
    full = model.decode(z).log_prob(ids).numpy()
    np.testing.assert_allclose(trimmed, full, rtol=1e-5)
    # One position short would drop the longest sentence's [EOS]: another number for it.
    cut = model.likelihood.log_prob(model._likelihood_params(z, targets=ids[:, :4]), ids[:, :4]).numpy()
    assert abs(cut[0, 1] - full[0, 1]) > 0.1 and np.allclose(cut[:, [0, 2, 3]], full[:, [0, 2, 3]], rtol=1e-5)
    assert int(used_length(tf.constant(ids), text.PAD)) == 5
    assert int(used_length(tf.fill([2, 8], text.PAD), text.PAD)) == 1  # all padding: still one position


def test_importance_weighted_evaluation_groups_sentences_by_length_and_keeps_the_given_order():
    model = _model(0)
    lengths = [7, 2, 5, 3, 8, 4]  # all different: the by-length order does not depend on the given one
    ids = _ragged_ids(lengths)
    model(ids)
    np.testing.assert_array_equal(model.evaluation_order(ids), np.argsort(lengths))
    assert model.evaluation_order(np.array(["a w5"])) is None  # strings: no lengths to sort by
    ll = evaluation.log_likelihood(model, ids, num_samples=3, batch_size=2, progress=False)
    permutation = np.array([4, 0, 5, 2, 1, 3])
    again = evaluation.log_likelihood(model, ids[permutation], num_samples=3, batch_size=2, progress=False)
    np.testing.assert_allclose(
        again, ll[permutation], rtol=1e-6
    )  # each sentence's estimate, in the given order
    # The batches are those of the sorted sentences: [2, 3], [4, 5], [7, 8] with seeds [0, 0], [0, 1], [0, 2].
    by_length = ids[np.argsort(lengths)]
    first = model._iw_log_likelihood(tf.constant(by_length[:2]), 3, tf.constant([0, 0])).numpy()
    np.testing.assert_allclose(ll[[1, 3]], first, rtol=1e-6)
