"""The word-level numbers of sentence models (the sentences kind's evaluation extras).

`sentence_report(model, sentences)`; a word is what `is_word` says (a token with a letter or a digit).
"""

import collections

import numpy as np
import tensorflow as tf

from vae_zoo import text
from vae_zoo.utils.checks import is_integer


def is_word(token):
    """The one definition of a word in the zoo's sentence metrics: a token with at least one letter or
    digit (`str.isalnum`, any script). Punctuation-only tokens (".", ",", "--") are not words; "[UNK]" is."""
    return any(character.isalnum() for character in token)


def words_of(tokens):
    """The words (`is_word`) of a token list, in order."""
    return [token for token in tokens if is_word(token)]


def token_f1(reference, candidate):
    """F1 of two word lists as multisets (each shared word counts min(times in each));
    1 for two empty lists."""
    if not reference and not candidate:
        return 1.0
    overlap = sum(min(count, candidate.count(word)) for word, count in collections.Counter(reference).items())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(candidate), overlap / len(reference)
    return 2 * precision * recall / (precision + recall)


def derangement(n, seed=0):
    """A fixed permutation of range(n) that moves every index (Sattolo's algorithm: one n-cycle),
    by `seed`."""
    if not is_integer(n, 2):
        raise ValueError(f"a derangement needs n >= 2 items, got n={n!r}")
    rng, order = np.random.default_rng(seed), np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))  # j < i: never leaves i in place
        order[i], order[j] = order[j], order[i]
    return order


def _shares(reference, outputs, known):
    """The share of `reference` tokens outside `known`, and of `[UNK]` among the `outputs` tokens."""
    unknown = text.SPECIAL_TOKENS[text.UNK]
    count = sum(len(tokens) for tokens in reference)
    produced = sum(len(tokens) for tokens in outputs)
    return (
        sum(w not in known for tokens in reference for w in tokens) / max(count, 1),
        sum(w == unknown for tokens in outputs for w in tokens) / max(produced, 1),
    )


def sentence_report(model, sentences, batch_size=500, seed=0):
    """Word-level numbers of a sentence model (one with a vocabulary) on raw `sentences`.

    Words are the tokens `is_word` accepts (punctuation-only tokens left out); the
    older all-token figures are kept beside them for continuity:

    * `unknown_word_share` (`unknown_share`: over all tokens): the share of the
      sentences' words not in the vocabulary (those the codec maps to `[UNK]`);
    * `reconstruction_word_f1` (`reconstruction_token_f1`: all tokens): the mean
      over sentences of `token_f1` between a sentence's words and those of its
      greedy reconstruction from the posterior mean (an `[UNK]` matches nothing,
      a word cut by `max_length` counts as missed);
    * `reconstruction_word_f1_random_other`: the same F1 against the
      reconstruction of another sentence, `derangement(len(sentences), seed)`:
      the floor an F1 must clear to say the reconstruction depends on its input;
    * `reconstruction_unknown_word_share` (`reconstruction_unknown_share`): the
      share of `[UNK]` among the reconstructions' words;
    * `truncation_length` (the model's `max_length`, `[EOS]` included) and
      `truncated_sentences`: how many sentences have more than `max_length - 1`
      tokens and are cut; `sentences`: how many.
    """
    if getattr(model, "codec", None) is None:
        raise ValueError(
            "sentence_report needs a model with a vocabulary (a SequenceVAE built with vocabulary=), "
            f"got {type(model).__name__}"
        )
    if isinstance(sentences, (tf.Tensor, np.ndarray)):
        sentences = np.asarray(sentences).reshape(-1).tolist()
    sentences = [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in sentences]
    if not sentences:
        raise ValueError("sentence_report needs at least one sentence")
    if not is_integer(batch_size, 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    inputs = text.sentence_words(sentences)  # as the codec standardizes them, untruncated
    known = set(model.codec.vocabulary)
    reconstructions = []
    for start in range(0, len(sentences), batch_size):
        reconstructions.extend(model.reconstruct_sentences(sentences[start : start + batch_size]))
    outputs = [
        sentence.split(" ") if sentence else [] for sentence in reconstructions
    ]  # tokens joined by spaces
    input_words, output_words = [words_of(t) for t in inputs], [words_of(t) for t in outputs]
    unknown_share, reconstruction_unknown_share = _shares(inputs, outputs, known)
    unknown_word_share, reconstruction_unknown_word_share = _shares(input_words, output_words, known)
    floor = None
    if len(sentences) > 1:
        other = derangement(len(sentences), seed)
        floor = float(np.mean([token_f1(a, output_words[j]) for a, j in zip(input_words, other)]))
    max_length = model.codec.max_length
    return {
        "sentences": len(sentences),
        "unknown_share": unknown_share,
        "unknown_word_share": unknown_word_share,
        "reconstruction_token_f1": float(np.mean([token_f1(a, b) for a, b in zip(inputs, outputs)])),
        "reconstruction_word_f1": float(np.mean([token_f1(a, b) for a, b in zip(input_words, output_words)])),
        "reconstruction_word_f1_random_other": floor,
        "reconstruction_unknown_share": reconstruction_unknown_share,
        "reconstruction_unknown_word_share": reconstruction_unknown_word_share,
        "truncation_length": max_length,
        "truncated_sentences": sum(len(tokens) > max_length - 1 for tokens in inputs),
    }
