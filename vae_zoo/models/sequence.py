"""`SequenceVAE`: an LSTM sentence VAE (Bowman et al. 2016), and its real-valued variant.

Tokens: an LSTM encoder (optionally bidirectional) maps the token ids of a
sentence to q(z|x); an LSTM decoder, conditioned on z through its initial
state and/or z concatenated to every input, models p(x|z) autoregressively
with a categorical distribution per position (padding left out). Training
uses teacher forcing with word dropout (decoder inputs replaced by `[UNK]`).
Against posterior collapse the default posterior is BN-VAE's
(`posterior="diagonal_batch_norm"`: batch-normalized means with a fixed scale
0.6, so each dimension keeps a batch-averaged KL of at least 0.18 nats);
KL annealing (`vae_zoo.training.callbacks.KLAnnealing`) and free bits (the
`free_bits` argument) are available too. `posterior="diagonal"` is the plain VAE.

Real values (`features=F`, a Gaussian likelihood): the same model over
sequences `[T, F]` (time series); the decoder reads the previous value, and
"word dropout" zeroes previous values.

Decoding runs inside the graph (`tf.while_loop`, stopping at `[EOS]`):
greedy when `temperature == 0`, sampling from softmax(logits / temperature)
otherwise, with stateless seeds (`sequence_decoding`). p(x|z) over whole
sequences is `sequence_distribution`'s; the per-row draws and the serving
signatures' sentence hooks are `sequence_serving`'s.
"""

import keras
import numpy as np
import tensorflow as tf

from vae_zoo import distributions as dists
from vae_zoo import text
from vae_zoo.models.inputs import check_num_samples
from vae_zoo.models.registry import FamilyArgument, register_family
from vae_zoo.models.sampled_softmax import check_sampled_softmax
from vae_zoo.models.sequence_bounds import SequenceBoundsMixin
from vae_zoo.models.sequence_decoding import DecodingMixin
from vae_zoo.models.sequence_distribution import SequenceDistribution
from vae_zoo.models.sequence_serving import ServingMixin
from vae_zoo.models.vae import VAE
from vae_zoo.utils.distribute import global_batch_draw
from vae_zoo.utils.seeds import as_seed, row_keys, seed_rows

CONDITIONING = ("initial_state", "input", "both")


def _flag(text):
    return str(text).lower() in ("1", "true", "yes", "on")


@register_family("sequence")
@keras.saving.register_keras_serializable(package="vae_zoo")
class SequenceVAE(SequenceBoundsMixin, ServingMixin, DecodingMixin, VAE):
    """A sequence VAE with LSTM encoder and decoder.

    Args:
        vocab_size: number of token ids (special tokens included); inferred
            from `vocabulary` when that is given.
        max_length: tokens per sequence, `[EOS]` included (longer sentences are
            truncated to `max_length - 1` tokens plus `[EOS]`).
        embedding_dim: token embedding size (encoder and decoder each have one).
        hidden_units: LSTM units (per direction in the encoder).
        latent_dim: size of z.
        bidirectional_encoder: read the sentence in both directions.
        word_dropout: probability of replacing a decoder input token by `[UNK]`
            in training (Bowman et al.), or of zeroing a previous value.
        conditioning: "initial_state", "input" (z concatenated to every decoder
            input) or "both".
        vocabulary: the words of a `vae_zoo.text.TextCodec`; with it the model
            takes and returns strings (`encode(["a sentence"])`, `sample_sentences`).
        sampled_softmax: S > 0: the training loss's softmax estimated from S candidate tokens
            (`vae_zoo.models.sampled_softmax`); evaluation and exports use the exact one (0).
            "auto" (default): 1,024 candidates from a vocabulary of 5,000 tokens or more, else 0.
        features: for real-valued sequences `[max_length, features]` (time
            series) instead of tokens; pair with a Gaussian `likelihood`.
        likelihood: "categorical" for tokens (default), a Gaussian for values.
        **kwargs: `VAE` arguments (`prior`, `beta`, `free_bits`, `kl`, ...).

    Example:

    >>> import vae_zoo
    >>> from vae_zoo.text import TextCodec
    >>> codec = TextCodec.from_corpus(["a cat sat", "a dog ran"], max_length=6)
    >>> model = vae_zoo.models.SequenceVAE(vocabulary=codec.vocabulary, max_length=6, embedding_dim=8,
    ...                                    hidden_units=16, latent_dim=4, seed=0)
    >>> model.encode(["a cat ran"]).event_shape
    TensorShape([4])
    >>> len(model.sample_sentences(3, seed=1))
    3
    """

    data_kinds = ("sentences", "series")
    arguments = {
        "embedding_dim": FamilyArgument(int, "token embedding size"),
        "hidden_units": FamilyArgument(int, "LSTM units (per direction in the encoder)"),
        "word_dropout": FamilyArgument(float, "probability of replacing a decoder input token by [UNK]"),
        "conditioning": FamilyArgument(str, "initial_state | input | both"),
        "bidirectional_encoder": FamilyArgument(_flag, "read sentences in both directions (true/false)"),
        "sampled_softmax": FamilyArgument(
            int, "candidate tokens of the training softmax (0: exact; default: 1,024 from 5,000 tokens up)"
        ),
    }

    def __init__(
        self,
        vocab_size=None,
        max_length=32,
        embedding_dim=128,
        hidden_units=256,
        latent_dim=32,
        bidirectional_encoder=True,
        word_dropout=0.25,
        conditioning="both",
        vocabulary=None,
        sampled_softmax="auto",
        features=None,
        likelihood=None,
        input_shape=None,
        **kwargs,
    ):
        if conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {conditioning!r}")
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout!r}")
        codec = None
        if features is None:
            if vocabulary is not None:
                codec = text.TextCodec(vocabulary, max_length, name="codec")
                if vocab_size is not None and int(vocab_size) != codec.vocab_size:
                    raise ValueError(
                        f"vocab_size={vocab_size} but the vocabulary gives {codec.vocab_size} ids"
                    )
                vocab_size = codec.vocab_size
            if vocab_size is None:
                raise ValueError(
                    "SequenceVAE needs vocab_size (or vocabulary) for tokens, or features for values"
                )
            likelihood = likelihood or {
                "name": "categorical",
                "num_classes": int(vocab_size),
                "pad_id": text.PAD,
            }
            shape = (int(max_length),)
        else:
            likelihood = likelihood or "gaussian_per_dimension"
            shape = (int(max_length), int(features))
        if input_shape is not None and tuple(input_shape) != shape:
            raise ValueError(f"input_shape {tuple(input_shape)} does not match max_length/features {shape}")
        prior = kwargs.get("prior", "normal")
        vamp = prior == "vamp" or isinstance(prior, dists.VampPrior)
        if isinstance(prior, dict):
            vamp = prior.get("name") == "vamp" or prior.get("class_name") == "VampPrior"
        if features is None and vamp:
            raise ValueError(
                "prior='vamp' needs continuous pseudo-inputs, but a token SequenceVAE reads integer token "
                "ids (pseudo-inputs cast to ids would all be padding); use prior='normal' or 'mixture'"
            )
        # BN-VAE's batch-normalized means by default: an LSTM decoder otherwise learns to ignore z
        # (the plain VAE's KL went to 0.57 nats in 2 epochs on WordNet sentences; see the class doc).
        kwargs.setdefault("posterior", "diagonal_batch_norm")
        self.tokens = features is None
        self.codec = codec
        self.vocab_size = None if vocab_size is None else int(vocab_size)
        self.max_length, self.features = int(max_length), None if features is None else int(features)
        self.embedding_dim, self.hidden_units = int(embedding_dim), int(hidden_units)
        self.bidirectional_encoder, self.word_dropout = bool(bidirectional_encoder), float(word_dropout)
        self.conditioning = conditioning
        self.sampled_softmax = check_sampled_softmax(sampled_softmax, self.tokens, self.vocab_size)
        super().__init__(shape, latent_dim, likelihood=likelihood, **kwargs)

    @property
    def data_kind(self):
        """ "sentences" (token ids) or "series" (real values, `features=F`): the data this model reads."""
        return "sentences" if self.tokens else "series"

    def build_encoder(self):
        if self.tokens != self.likelihood.integer_events:
            raise ValueError("token sequences need a categorical likelihood; real-valued ones a Gaussian")
        encoder_rnn = keras.layers.LSTM(self.hidden_units)
        if self.bidirectional_encoder:
            encoder_rnn = keras.layers.Bidirectional(encoder_rnn, merge_mode="concat")
        front = (
            [keras.layers.Embedding(self.vocab_size, self.embedding_dim, mask_zero=True)]
            if self.tokens
            else []
        )
        # An explicit input dtype: a Sequential otherwise casts its input to the compute dtype, and
        # under mixed_bfloat16 token ids above 256 would be rounded (499 -> 500) before the embedding.
        inputs = keras.Input(self.data_shape, dtype="int32" if self.tokens else "float32")
        return keras.Sequential([inputs] + front + [encoder_rnn], name="encoder")

    def build_decoder(self):
        """The decoder's layers (an embedding, the z-to-state projection, the LSTM, the output
        projection), read one position at a time; `_decode_raw` runs them."""
        if self.tokens:
            self.decoder_embedding = keras.layers.Embedding(
                self.vocab_size, self.embedding_dim, name="decoder_embedding"
            )
        self.decoder_init = keras.layers.Dense(2 * self.hidden_units, activation="tanh", name="decoder_init")
        self.decoder_lstm = keras.layers.LSTM(
            self.hidden_units, return_sequences=True, return_state=True, name="decoder_lstm"
        )
        outputs = self.vocab_size if self.tokens else self.features * self.likelihood.num_params
        self.decoder_output = keras.layers.Dense(outputs, dtype="float32", name="decoder_output")
        step_inputs = (self.embedding_dim if self.tokens else self.features) + (
            self.latent_dim if self.conditioning != "initial_state" else 0
        )
        if self.tokens:
            self.decoder_embedding.build((None, self.max_length))
        self.decoder_init.build((None, self.latent_dim))
        self.decoder_lstm.build((None, self.max_length, step_inputs))
        self.decoder_output.build((None, self.max_length, self.hidden_units))
        return None

    # ------------------------------------------------------------ inputs

    def prepare_inputs(self, x):
        """Strings are tokenized (models with a vocabulary); ids / values go through `VAE.prepare_inputs`."""
        if isinstance(x, (tuple, list)) and x and isinstance(x[0], (str, bytes)):
            x = tf.constant(x, tf.string)
        elif isinstance(x, (tuple, list)):
            x = x[0]
        if isinstance(x, np.ndarray) and x.dtype.kind in "OSU":
            x = tf.constant(x.astype(object) if x.dtype.kind == "U" else x, tf.string)
        if isinstance(x, tf.Tensor) and x.dtype == tf.string:
            if self.codec is None:
                raise ValueError(
                    "this SequenceVAE has no vocabulary: pass token ids, or build it with vocabulary="
                )
            return self.codec(tf.reshape(x, [-1]))
        return super().prepare_inputs(x)

    def tokenize(self, sentences):
        """Sentences -> `[B, max_length]` token ids (see `vae_zoo.text.TextCodec`)."""
        return self.codec.tokenize(sentences)

    def detokenize(self, ids):
        """Token ids -> sentences (a `[B]` string tensor)."""
        return self.codec.detokenize(ids)

    # ------------------------------------------------------------ decoder

    def _initial_state(self, z):
        if self.conditioning == "input":
            zeros = tf.zeros([tf.shape(z)[0], self.hidden_units], self.decoder_lstm.compute_dtype)
            return [zeros, zeros]
        return tf.split(self.decoder_init(z), 2, axis=-1)

    def _step_inputs(self, previous, z, drop=None):
        """Decoder inputs `[N, T, ...]` from previous tokens / values `[N, T(, F)]`.

        `drop` (`[N, T]` bool, training only): word dropout, the positions whose
        input token becomes `[UNK]` (whose previous value becomes 0).
        """
        if drop is not None:
            if self.tokens:
                keep = tf.logical_or(tf.equal(previous, text.BOS), tf.equal(previous, text.PAD))
                previous = tf.where(tf.logical_and(drop, tf.logical_not(keep)), text.UNK, previous)
            else:
                previous = tf.where(drop[..., None], 0.0, previous)
        inputs = self.decoder_embedding(previous) if self.tokens else previous
        if self.conditioning != "initial_state":
            steps = tf.shape(inputs)[1]
            # z joins the inputs in their compute dtype (float16 / bfloat16 under mixed precision).
            z = tf.cast(z, inputs.dtype)
            inputs = tf.concat([inputs, tf.tile(z[:, None, :], [1, steps, 1])], axis=-1)
        return inputs

    def _word_dropout_mask(self, repeats, batch, seed):
        """`[repeats * batch, T]` word-dropout positions, keyed by `seed` (the step's (seed, step)).

        One draw over the global batch, sliced per replica, k-major like the
        tiled targets: a resumed run and a run on N replicas drop the same
        words as the uninterrupted single-device run.
        """
        if seed is None:
            seed = as_seed(None)  # an ad-hoc call outside the training step
        uniform = global_batch_draw(tf.random.stateless_uniform, repeats, batch, [self.max_length], seed)
        return tf.reshape(uniform < self.word_dropout, [repeats * batch, self.max_length])

    def _decoder_hidden(self, z, targets, training, seed=None):
        """The decoder LSTM's outputs `[k*B, T, H]` for `z` `[k*B, latent]` read with `targets` `[B, T(, F)]`
        as the previous tokens (k-major: `z` row `i*B + b` reads example `b`), and the tiled targets."""
        inputs, state, targets = self._decoder_inputs(z, targets, training, seed)
        hidden, _, _ = self.decoder_lstm(inputs, initial_state=state, training=training)
        return hidden, targets

    def _decoder_inputs(self, z, targets, training, seed=None):
        """The teacher-forced decoder LSTM's inputs `[k*B, T, D]` and initial state for `z` `[k*B, latent]`
        (word dropout applied in training), and the targets tiled to `[k*B, T(, F)]`."""
        batch = tf.shape(targets)[0]
        repeats = tf.shape(z)[0] // tf.maximum(batch, 1)  # B = 0: an empty batch, no division by zero
        drop = None
        if training and self.word_dropout > 0:
            # Drawn over all max_length positions and cut to the batch's: the same words drop
            # whether or not the padding after the batch's longest row was cut.
            drop = self._word_dropout_mask(repeats, batch, seed)[:, : tf.shape(targets)[1]]
        targets = tf.tile(targets, tf.concat([[repeats], tf.ones([tf.rank(targets) - 1], tf.int32)], axis=0))
        if self.tokens:
            start = tf.fill([tf.shape(targets)[0], 1], text.BOS)
            previous = tf.concat([start, targets[:, :-1]], axis=1)
        else:
            previous = tf.pad(targets[:, :-1], [[0, 0], [1, 0], [0, 0]])
        return self._step_inputs(previous, z, drop), self._initial_state(z), targets

    def _teacher_forced(self, z, targets, training, seed=None):
        raw = self.decoder_output(
            self._decoder_hidden(z, targets, training, seed)[0]
        )  # logits of those positions
        if self.tokens:
            return raw + self._banned_logits()
        return tf.reshape(raw, [-1, self.max_length, self.features, self.likelihood.num_params])

    def _decode_raw(self, z, training=False, targets=None, seed=None):
        if targets is None:
            targets = self.generate_ids(z)
        return self._teacher_forced(z, targets, training, seed)

    def decode(self, z, training=False):
        """p(x|z) over whole sequences: a `SequenceDistribution` with batch shape `z.shape[:-1]`.

        `log_prob(x)` is the teacher-forced log-likelihood of the sequences `x`
        (token ids `[..., max_length]`, padding left out; the reconstruction
        term of `elbo`), `sample(seed=...)` ancestral sampling at temperature 1,
        `mode()` greedy decoding.
        """
        z = tf.convert_to_tensor(z, tf.float32)
        if z.shape.rank is not None and (z.shape.rank < 1 or z.shape[-1] not in (None, self.latent_dim)):
            raise ValueError(f"decode expects z of shape (..., {self.latent_dim}), got {tuple(z.shape)}")
        return SequenceDistribution(self, z, training=training)

    # ------------------------------------------------------------ public text API

    def _strings(self, ids):
        return [s.decode("utf-8") for s in self.detokenize(ids).numpy()]

    def generate(self, z, temperature=0.0, seed=None):
        """Sentences (a list of str) decoded from `z`; ids for models without a vocabulary."""
        ids = self.generate_ids(z, temperature, seed)
        return self._strings(ids) if self.codec is not None and self.tokens else ids

    def sample_sentences(self, num_samples, seed=None, temperature=1.0):
        """`num_samples` sentences: z from the prior, decoded at `temperature` (0 = greedy).

        Equals the `sample` signature's `sentences` for `seed = seed + arange(num_samples)`.
        """
        num_samples = check_num_samples(num_samples)
        keys = row_keys(seed_rows(num_samples, seed))
        ids = self._sample_rows(keys, tf.fill([num_samples], tf.cast(temperature, tf.float32)))["ids"]
        return self._strings(ids) if self.codec is not None else ids

    def reconstruct_sentences(self, sentences):
        """Greedy decoding from the posterior mean of each sentence."""
        return self.generate(self.encode(sentences).mean())

    def interpolate(self, sentence_a, sentence_b, steps=5):
        """Greedy decodings along the straight line between two posterior means (Bowman et al.'s homotopy).

        Returns `steps` sentences, from `sentence_a`'s code to `sentence_b`'s.
        """
        means = self.encode([sentence_a, sentence_b]).mean()
        weights = tf.linspace(0.0, 1.0, int(steps))[:, None]
        return self.generate((1 - weights) * means[0] + weights * means[1])

    def get_config(self):
        config = super().get_config()
        for key in ("input_shape", "likelihood"):
            config.pop(key)
        if self.tokens:
            config["likelihood"] = None
        else:
            config["likelihood"] = keras.saving.serialize_keras_object(self.likelihood)
        config.update(
            vocab_size=self.vocab_size,
            max_length=self.max_length,
            embedding_dim=self.embedding_dim,
            hidden_units=self.hidden_units,
            bidirectional_encoder=self.bidirectional_encoder,
            word_dropout=self.word_dropout,
            conditioning=self.conditioning,
            vocabulary=None if self.codec is None else list(self.codec.vocabulary),
            features=self.features,
            sampled_softmax=self.sampled_softmax,
        )
        return config
