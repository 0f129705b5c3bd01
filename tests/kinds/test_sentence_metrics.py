"""Word-level sentence metrics (`vae_zoo.kinds.sentence_metrics`): what a word is, token F1 over words,
the random-other floor's derangement, the [UNK] share, and what measure records for sentence models."""

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo.kinds import sentence_metrics
from vae_zoo.models import DenseVAE


def test_token_f1_counts_words_as_multisets():
    assert sentence_metrics.token_f1(["a", "b", "a"], ["a", "a", "c"]) == pytest.approx(
        2 / 3
    )  # sets would give 0.5
    assert sentence_metrics.token_f1(["a", "b"], ["b", "a"]) == 1.0  # order does not matter
    assert (
        sentence_metrics.token_f1([], []),
        sentence_metrics.token_f1(["a"], []),
        sentence_metrics.token_f1(["a"], ["b"]),
    ) == (1.0, 0.0, 0.0)


class _Reconstructs:
    """A sentence model whose greedy reconstructions are given (to check the counting alone)."""

    def __init__(self, vocabulary, outputs):
        from vae_zoo.text import TextCodec

        self.codec, self.outputs, self.calls = TextCodec(vocabulary, max_length=4), list(outputs), []

    def reconstruct_sentences(self, sentences):
        self.calls.append(len(sentences))
        return [self.outputs.pop(0) for _ in sentences]


def test_sentence_report_counts_words_independently_of_the_vocabulary():
    model = _Reconstructs(["the", "cat", "sat", "."], ["the cat sat", "[UNK] [UNK] .", "the"])
    sentences = ["The cat sat on the mat.", "A dog ran.", ""]
    report = sentence_metrics.sentence_report(model, sentences, batch_size=2)
    # words: the cat sat on the mat . | a dog ran . | (none): 11, of which on, mat, a, dog, ran are unknown;
    # counted untruncated, although max_length 4 keeps 3 words of the first sentence
    assert report["unknown_share"] == pytest.approx(5 / 11)
    f1 = [2 * (3 / 3) * (3 / 7) / (3 / 3 + 3 / 7), 2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4), 0.0]
    assert report["reconstruction_token_f1"] == pytest.approx(np.mean(f1))
    assert report["reconstruction_unknown_share"] == pytest.approx(2 / 7)
    assert report["sentences"] == 3 and model.calls == [2, 1]
    # words only ("." is not a word, "[UNK]" is): the cat sat on the mat | a dog ran | (none): 9, 5 unknown
    assert report["unknown_word_share"] == pytest.approx(5 / 9)
    # 3 of 6 words back (precision 1, recall 1/2: F1 2/3), then none: a reconstruction's "." no longer counts
    assert report["reconstruction_word_f1"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert report["reconstruction_unknown_word_share"] == pytest.approx(2 / 6)
    # max_length 4 keeps 3 tokens and [EOS]: the 7- and 4-token sentences are cut, the empty one is not
    assert (report["truncation_length"], report["truncated_sentences"]) == (4, 2)
    # floor: sentence i against reconstruction j = derangement(3, 0)[i] = 2, 0, 1; only "the" of the first
    # matches
    assert sentence_metrics.derangement(3, seed=0).tolist() == [2, 0, 1]
    assert report["reconstruction_word_f1_random_other"] == pytest.approx(
        (2 * (1 / 6) / (1 + 1 / 6) + 0 + 0) / 3
    )
    with pytest.raises(ValueError, match="needs a model with a vocabulary"):
        sentence_metrics.sentence_report(DenseVAE((4,), latent_dim=2, hidden_units=(), seed=0), sentences)


def test_a_word_has_a_letter_or_a_digit():
    words = ["cat", "'s", "1990", "é", "[UNK]", "x-ray", ".", ",", "--", "'", "!?", "\ufffd"]
    assert [sentence_metrics.is_word(w) for w in words] == [True] * 6 + [False] * 6
    assert sentence_metrics.words_of(["the", "cat", ".", "sat", "!"]) == ["the", "cat", "sat"]


def test_derangement_moves_every_index_and_is_fixed_by_its_seed():
    for n in (2, 3, 7, 50):
        for seed in range(5):
            order = sentence_metrics.derangement(n, seed)
            assert sorted(order.tolist()) == list(range(n)) and not np.any(order == np.arange(n))
    assert sentence_metrics.derangement(50, 1).tolist() == sentence_metrics.derangement(50, 1).tolist()
    assert sentence_metrics.derangement(50, 1).tolist() != sentence_metrics.derangement(50, 2).tolist()
    with pytest.raises(ValueError, match="a derangement needs n >= 2 items, got n=1"):
        sentence_metrics.derangement(1)


def test_measure_records_the_word_level_numbers_of_sentence_models():
    from vae_zoo.models import SequenceVAE
    from vae_zoo.text import TextCodec
    from vae_zoo.training.measure import measure

    sentences = ["the cat sat on the mat", "a dog ran", "the dog sat", "a cat ran far away"]
    codec = TextCodec.from_corpus(sentences[:2], max_length=8)
    model = SequenceVAE(
        vocabulary=codec.vocabulary, max_length=8, embedding_dim=4, hidden_units=4, latent_dim=2, seed=0
    )
    metrics = measure(model, model.tokenize(sentences).numpy(), 2, 0, mi_examples=None, sentences=sentences)
    direct = sentence_metrics.sentence_report(model, sentences)
    assert metrics["test_unknown_share"] == pytest.approx(2 / 17)  # far and away, of 17 words
    assert metrics["test_reconstruction_token_f1"] == pytest.approx(direct["reconstruction_token_f1"])
    assert metrics["test_reconstruction_unknown_share"] == pytest.approx(
        direct["reconstruction_unknown_share"]
    )
    for key in ("reconstruction_word_f1", "reconstruction_word_f1_random_other", "unknown_word_share"):
        assert metrics[f"test_{key}"] == pytest.approx(direct[key])
    assert (metrics["test_truncation_length"], metrics["test_truncated_sentences"]) == (8, 0)


def test_sentence_report_takes_string_tensors_and_refuses_a_bad_batch_size():
    model = _Reconstructs(["the", "cat"], ["the cat", "cat"])
    report = sentence_metrics.sentence_report(model, tf.constant(["the cat", "a cat"]))
    assert report["unknown_share"] == pytest.approx(1 / 4) and report["sentences"] == 2
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        sentence_metrics.sentence_report(model, ["the cat"], batch_size=0)
