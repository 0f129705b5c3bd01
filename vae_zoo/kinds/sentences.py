"""Sentences as token ids (the sequence family with a vocabulary): read by
`vae_zoo.datasets.load_sentences`, tokenized by a `TextCodec` built from the training split and
saved inside the model; evaluated also word by word (`vae_zoo.kinds.sentence_metrics.sentence_report`)."""

import os

from vae_zoo.kinds import sentence_metrics
from vae_zoo.kinds.registry import DataKind, register_kind

#: Train metrics of a run are measured on the first TRAIN_EVAL_SENTENCES sentences (the full split is slow to score).
TRAIN_EVAL_SENTENCES = 10_000


@register_kind("sentences")
class Sentences(DataKind):
    settings = {
        "max_length": 32,  # tokens per sentence, [EOS] included; longer sentences are truncated
        "max_tokens": 10_000,  # vocabulary size, special tokens included
    }

    @property
    def datasets(self):
        from vae_zoo.datasets.catalog import TEXT_DATASETS

        return TEXT_DATASETS

    def training_data(self, config, verbose=False):
        import tensorflow as tf

        from vae_zoo import datasets
        from vae_zoo.text import TextCodec

        def read(split):
            sentences = datasets.load_sentences(config["dataset"], split=split, data_dir=config["data_dir"])
            if verbose:
                print(f"vae_zoo.training: {config['dataset']} [{split}]: {len(sentences)} sentences")
            return sentences

        train_sentences = read("train")
        codec = TextCodec.from_corpus(train_sentences, max_length=config["max_length"], max_tokens=config["max_tokens"])
        batch = config["batch_size"]
        splits = {}
        for split, sentences in (("train", train_sentences), ("validation", read("validation"))):
            tokens = codec.tokenize(sentences).numpy()
            ds = tf.data.Dataset.from_tensor_slices(tokens)
            if split == "train":
                ds = ds.shuffle(len(tokens), seed=config["seed"], reshuffle_each_iteration=True)
                ds = ds.batch(batch, drop_remainder=True)
                if config["steps_per_epoch"]:
                    ds = ds.take(config["steps_per_epoch"])
                subset = tf.data.Dataset.from_tensor_slices(tokens[:TRAIN_EVAL_SENTENCES])
                splits["train_eval"] = subset.batch(batch).prefetch(tf.data.AUTOTUNE)
            else:
                ds = ds.batch(batch)
            splits[split] = ds.prefetch(tf.data.AUTOTUNE)
        return splits, {"vocabulary": codec.vocabulary, "max_length": config["max_length"]}

    def write_run_outputs(self, model, validation, run_dir, seed):
        """`samples.txt` (prior samples at temperatures 0, 0.7, 1) and `reconstructions.txt` (validation)."""
        ids = next(iter(validation.unbatch().batch(10)))
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
