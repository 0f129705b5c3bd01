"""Sentences as token ids (the sequence family with a vocabulary): read by
`vae_zoo.datasets.load_sentences`, tokenized by a `TextCodec` built from the training split and
saved inside the model; evaluated also word by word (`vae_zoo.kinds.sentence_metrics.sentence_report`)."""

import os

from vae_zoo.kinds import sentence_metrics
from vae_zoo.kinds.registry import NOT_RECORDED, DataKind, register_kind

#: Train metrics of a run are measured on the first TRAIN_EVAL_SENTENCES sentences
#: (the full split is slow to score).
TRAIN_EVAL_SENTENCES = 10_000


def sentence_rows(m, n_all, max_length=None):
    """Word-level rows: words (`vae_zoo.kinds.sentence_metrics.is_word`) and, for continuity, all tokens."""

    def share(key):
        return NOT_RECORDED + " (the entry predates it)" if m.get(key) is None else f"{m[key]:.1%}"

    def f1(key):
        return NOT_RECORDED + " (the entry predates it)" if m.get(key) is None else f"{m[key]:.3f}"

    truncated = m.get("test_truncated_sentences")
    length = m.get("test_truncation_length", max_length)
    return [
        "| words outside the vocabulary (`[UNK]`); words only / all tokens | "
        f"{share('test_unknown_word_share')} / "
        f"{share('test_unknown_share')} | all {n_all} |",
        "| F1, sentence vs its greedy reconstruction from the posterior mean; "
        "words only / all tokens (old) | "
        f"{f1('test_reconstruction_word_f1')} / {f1('test_reconstruction_token_f1')} | all {n_all} |",
        f"| floor: word F1 against another sentence's reconstruction (a fixed derangement) | "
        f"{f1('test_reconstruction_word_f1_random_other')} | all {n_all} |",
        f"| `[UNK]` among the reconstructions' words; words only / all tokens | "
        f"{share('test_reconstruction_unknown_word_share')} / {share('test_reconstruction_unknown_share')} "
        f"| all {n_all} |",
        "| sentences cut at the truncation length "
        f"({NOT_RECORDED if length is None else f'{length} tokens'}, `[EOS]` "
        f"included) | {NOT_RECORDED if truncated is None else f'{truncated:,}'} | all {n_all} |",
    ]


@register_kind("sentences")
class Sentences(DataKind):
    settings = {
        "max_length": 32,  # tokens per sentence, [EOS] included; longer sentences are truncated
        "max_tokens": 10_000,  # vocabulary size, special tokens included
        # training batches of like length: pools of this many batches sorted by length
        # (vae_zoo.datasets.length_batches); 0 (the default): batches of randomly shuffled sentences.
        # Not the default: with the default batch-normalized posterior means (BN-VAE), batches of
        # one length normalize away what z says about length, and the 2-epoch validation -ELBO
        # was 1.6 nats worse after epoch 1 (benchmarks/README.md, "Sentence training speed").
        "length_pool": 0,
    }
    exclusive_settings = ("length_pool",)

    @property
    def datasets(self):
        from vae_zoo.datasets.catalog import TEXT_DATASETS

        return TEXT_DATASETS

    def training_data(self, config, verbose=False):
        import tensorflow as tf

        from vae_zoo import datasets, text
        from vae_zoo.datasets import length_batches
        from vae_zoo.text import TextCodec

        def read(split):
            sentences = datasets.load_sentences(config["dataset"], split=split, data_dir=config["data_dir"])
            if verbose:
                print(f"vae_zoo.training: {config['dataset']} [{split}]: {len(sentences)} sentences")
            return sentences

        train_sentences = read("train")
        codec = TextCodec.from_corpus(
            train_sentences, max_length=config["max_length"], max_tokens=config["max_tokens"]
        )
        batch, pool = config["batch_size"], config["length_pool"]
        if not isinstance(pool, int) or isinstance(pool, bool) or pool < 0:
            raise ValueError(
                f"length_pool must be an integer >= 0 (batches per pool sorted by length; 0: batches "
                f"in random order), got {pool!r}"
            )
        train = codec.tokenize(train_sentences).numpy()
        validation = codec.tokenize(read("validation")).numpy()
        pad = text.PAD
        if pool:
            ds = length_batches.length_grouped_batches(train, batch, pad, seed=config["seed"], pool=pool)
        else:
            ds = tf.data.Dataset.from_tensor_slices(train)
            ds = ds.shuffle(len(train), seed=config["seed"], reshuffle_each_iteration=True)
            ds = ds.batch(batch, drop_remainder=True)
        if config["steps_per_epoch"]:
            ds = ds.take(config["steps_per_epoch"])
        # Evaluation batches in order of length: per-sentence means do not depend on the order.
        splits = {
            "train": ds,
            "validation": length_batches.length_sorted_batches(validation, batch, pad),
            "train_eval": length_batches.length_sorted_batches(train[:TRAIN_EVAL_SENTENCES], batch, pad),
        }
        splits = {name: split.prefetch(tf.data.AUTOTUNE) for name, split in splits.items()}
        return splits, {"vocabulary": codec.vocabulary, "max_length": config["max_length"]}

    def write_run_outputs(self, model, validation, run_dir, seed):
        """`samples.txt` (prior samples at temperatures 0, 0.7, 1) and `reconstructions.txt` (10
        validation sentences spread over the split, which comes in order of length)."""
        import numpy as np

        rows = np.stack(list(validation.unbatch().as_numpy_iterator()))
        ids = rows[np.linspace(0, len(rows) - 1, 10).astype(int)]
        with open(os.path.join(run_dir, "samples.txt"), "w") as f:
            for temperature in (0.0, 0.7, 1.0):
                f.write(f"# temperature {temperature}\n")
                f.writelines(f"{s}\n" for s in model.sample_sentences(10, seed=seed, temperature=temperature))
        inputs = [s.decode("utf-8") for s in model.detokenize(ids).numpy()]
        with open(os.path.join(run_dir, "reconstructions.txt"), "w") as f:
            for sentence, reconstruction in zip(inputs, model.reconstruct_sentences(ids)):
                f.write(f"in:  {sentence}\nout: {reconstruction}\n\n")

    def load_split(self, model, dataset, split="test", binarize=None, seed=0, data_dir=None):
        from vae_zoo import datasets

        return model.tokenize(datasets.load_sentences(dataset, split=split, data_dir=data_dir)).numpy()

    def evaluation_extras(self, model, dataset, split, count, seed, data_dir=None):
        """Word level: [UNK] share, reconstruction F1 and its floor (`sentence_metrics.sentence_report`)."""
        from vae_zoo import datasets

        sentences = datasets.load_sentences(dataset, split=split, data_dir=data_dir)
        return sentence_metrics.sentence_report(model, sentences[:count], seed=seed)

    def preprocessing(self, model, config):
        return {
            "tokenizer": "the model's TextCodec (lowercased, punctuation split)",
            "max_length": config["max_length"],
            "vocabulary_size": len(model.codec.vocabulary),
            "seed": config["seed"],
        }

    def preset_extras_data(self, entry, model):
        """The raw test sentences (what `sentence_report` reads)."""
        from vae_zoo import datasets

        return datasets.load_sentences(entry["dataset"], split="test")

    def extras_report(self, model, extras_data, seed=0):
        """The word-level report (`sentence_metrics.sentence_report`) on all the raw test sentences."""
        return sentence_metrics.sentence_report(model, extras_data, seed=seed)

    # === Model cards ===
    card_unit = "sentence"

    def describes_entry(self, entry):
        return "tokenizer" in entry["preprocessing"]

    def card_metric_rows(self, metrics, n_all, entry):
        """Perplexity per token, and the word-level rows (`sentence_rows`) where the entry records them."""
        m, rows = metrics, []
        if m.get("perplexity") is not None:
            tokens = NOT_RECORDED if m.get("tokens") is None else f"{m['tokens']:,}"
            perplexity = f"{m['perplexity']:.2f}"
            row = (
                f"| perplexity per token (`[EOS]` included) | {perplexity} | "
                f"{tokens} tokens of the n examples |"
            )
            rows.append(row)
        if m.get("test_reconstruction_token_f1") is not None:
            rows += sentence_rows(m, n_all, entry["preprocessing"].get("max_length"))
        return rows
