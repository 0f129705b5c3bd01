"""Text handling for sequence models: a vocabulary layer that turns sentences into token ids and back.

`TextCodec` is a Keras 3 layer holding its vocabulary in its config, so it is
saved with the model (`.keras`) and traced into exported SavedModels (its
lookup tables are plain `tf.lookup` tables: no Python at serving time).

Token ids: 0 = `[PAD]`, 1 = `[UNK]` (out-of-vocabulary words), 2 = `[BOS]`
(start of sentence, decoder input only), 3 = `[EOS]` (end of sentence), then
the words, most frequent first.

Tokenization: invalid UTF-8 is replaced by U+FFFD, text is lowercased,
punctuation is split off words, and whitespace separates tokens. A sentence
of more than `max_length - 1` tokens is truncated to its first
`max_length - 1` tokens, then `[EOS]` is appended; an empty string is just
`[EOS]`.

Example:

>>> codec = TextCodec.from_corpus(["The cat sat.", "The dog ran!"], max_length=8)
>>> ids = codec.tokenize(["the cat ran", "a bird"])
>>> ids.shape
TensorShape([2, 8])
>>> [s.decode() for s in codec.detokenize(ids).numpy()]
['the cat ran', '[UNK] [UNK]']
"""

import collections

import keras
import tensorflow as tf

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
_PUNCTUATION = r"([^\w\s'\x{FFFD}])"


def standardize(sentences):
    """Valid UTF-8, lowercase, punctuation split off: the tokens are whitespace-separated."""
    sentences = tf.strings.unicode_transcode(
        sentences, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    sentences = tf.strings.lower(sentences, encoding="utf-8")
    return tf.strings.regex_replace(sentences, _PUNCTUATION, r" \1 ")


def split_tokens(sentences):
    """A ragged `[B, None]` tensor of tokens."""
    return tf.strings.split(standardize(tf.convert_to_tensor(sentences, tf.string)))


def sentence_words(sentences, block=8192):
    """The tokens of each sentence as str lists (standardized, untruncated), `block` sentences at a time."""
    sentences, words = list(sentences), []
    for start in range(0, len(sentences), block):
        rows = split_tokens(sentences[start : start + block]).to_list()
        words.extend([token.decode("utf-8") for token in row] for row in rows)
    return words


@keras.saving.register_keras_serializable(package="vae_zoo")
class TextCodec(keras.layers.Layer):
    """Sentences to padded token ids `[B, max_length]` (with `[EOS]`) and back.

    Args:
        vocabulary: the words (without the special tokens), most frequent first.
        max_length: tokens per sequence, `[EOS]` included.
    """

    def __init__(self, vocabulary, max_length, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        vocabulary = [str(w) for w in vocabulary]
        clash = sorted(set(vocabulary) & set(SPECIAL_TOKENS))
        if clash:
            raise ValueError(f"vocabulary must not contain the special tokens {clash}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary has duplicate words")
        if int(max_length) < 2:
            raise ValueError(f"max_length must be >= 2 (a token and [EOS]), got {max_length!r}")
        self.vocabulary = vocabulary
        self.max_length = int(max_length)
        self.supports_jit = False
        tokens = tf.constant(list(SPECIAL_TOKENS) + vocabulary)
        self._ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int64)),
            default_value=UNK,
        )
        self._tokens = tokens

    @property
    def vocab_size(self):
        return len(SPECIAL_TOKENS) + len(self.vocabulary)

    @classmethod
    def from_corpus(cls, sentences, max_length, max_tokens=None, min_count=1, **kwargs):
        """A codec whose vocabulary is the corpus's words with at least `min_count`
        occurrences, most frequent first (ties alphabetical), at most `max_tokens`
        entries in all (special tokens included)."""
        counts = collections.Counter()
        for row in sentence_words(sentences):
            counts.update(row)
        for special in SPECIAL_TOKENS:
            counts.pop(special, None)
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_tokens is not None:
            words = words[: max(0, int(max_tokens) - len(SPECIAL_TOKENS))]
        return cls(words, max_length, **kwargs)

    def call(self, sentences):
        """`[B]` strings -> `[B, max_length]` int32 ids, `[EOS]`-terminated, `[PAD]`-padded."""
        tokens = split_tokens(sentences)[:, : self.max_length - 1]
        ids = tf.ragged.map_flat_values(self._ids.lookup, tokens)
        eos = tf.fill([ids.nrows(), 1], tf.constant(EOS, tf.int64))
        ids = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
        return tf.cast(ids.to_tensor(default_value=PAD, shape=[None, self.max_length]), tf.int32)

    def tokenize(self, sentences):
        """`self(sentences)` for any string array-like (lists of `str`/`bytes` included)."""
        return self(tf.convert_to_tensor(sentences, tf.string))

    def detokenize(self, ids):
        """`[B, T]` ids -> `[B]` strings: the tokens before the first `[EOS]`, `[PAD]`s dropped."""
        ids = tf.convert_to_tensor(ids)
        before_eos = tf.cumsum(tf.cast(tf.equal(ids, EOS), tf.int32), axis=1, exclusive=True) == 0
        keep = tf.logical_and(before_eos, tf.logical_and(tf.not_equal(ids, EOS), tf.not_equal(ids, PAD)))
        words = tf.ragged.boolean_mask(tf.gather(self._tokens, tf.cast(ids, tf.int32)), keep)
        return tf.strings.reduce_join(words, axis=1, separator=" ")

    def token_counts(self, ids):
        """Tokens per sequence, `[EOS]` included (what perplexity divides by)."""
        return tf.reduce_sum(tf.cast(tf.not_equal(ids, PAD), tf.int32), axis=1)

    def compute_output_spec(self, sentences):
        return keras.KerasTensor((sentences.shape[0], self.max_length), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=list(self.vocabulary), max_length=self.max_length)
        return config
