"""Tests of `vae_zoo.datasets.wordnet`: `.txt` files and the WordNet corpus."""

import pytest
import tensorflow as tf

from vae_zoo import datasets
from vae_zoo.datasets import sources

from dataset_testing import WORDNET_DIR, md5_split, needs_wordnet


def test_txt_path(tmp_path):
    lines = [f"sentence   number {i} is here " for i in range(400)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(lines) + "\n   \n", encoding="utf-8")
    expected = [" ".join(line.split()) for line in lines]

    ds = datasets.load(path, "all", batch_size=None, verbose=False)
    assert ds.element_spec.dtype == tf.string
    assert [s.decode() for s in ds.as_numpy_iterator()] == expected
    splits = {s: datasets.load_sentences(path, s) for s in ("train", "validation", "test")}
    assert sum(len(v) for v in splits.values()) == 400
    assert all(splits[s] for s in splits) and len(splits["train"]) > 300
    for split, sentences in splits.items():
        assert all(md5_split(s) == split for s in sentences)

    batch = next(iter(datasets.load(path, batch_size=16, verbose=False)))
    assert batch.shape == (16,) and batch.dtype == tf.string
    assert datasets.dataset_source(path) == datasets.DataSource("text", str(path.resolve()))
    with pytest.raises(ValueError, match="binarize"):
        datasets.load(path, binarize="static", verbose=False)


@needs_wordnet
def test_wordnet_sentences_split_is_deterministic_disjoint_and_real():
    splits = {s: datasets.wordnet_sentences(s) for s in datasets.SPLITS}
    datasets._wordnet_corpus.cache_clear()
    assert {s: datasets.wordnet_sentences(s) for s in datasets.SPLITS} == splits

    train, validation, test = (set(splits[s]) for s in ("train", "validation", "test"))
    assert min(len(validation), len(test)) > 1000 and len(train) > 100_000
    assert not (train & validation or train & test or validation & test)
    assert train | validation | test == set(splits["all"])
    assert len(splits["all"]) == len(set(splits["all"]))  # deduplicated
    for split in ("validation", "test"):
        assert all(md5_split(s) == split for s in splits[split])

    corpus = set(splits["all"])
    assert "Nixon stonewalled the Watergate investigation" in corpus  # a quoted example
    assert "obstruct or hinder any discussion" in corpus  # its definition
    assert (
        "that which is perceived or known or inferred to have its own distinct existence "
        "(living or nonliving)" in corpus
    )  # the first synset's definition
    assert 'promise of reward as in "carrot and stick"' in corpus  # an inline quote stays
    assert not any("LICENSEE" in s or s != s.strip() or s.startswith('"') for s in corpus)
    source = datasets.dataset_source("wordnet_sentences")
    assert source == datasets.DataSource("wordnet", str(WORDNET_DIR))


@needs_wordnet
def test_load_wordnet_sentences_as_dataset():
    expected = datasets.wordnet_sentences("validation")
    ds = datasets.load("wordnet_sentences", "validation", batch_size=None, verbose=False)
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    assert [s.decode() for s in ds.as_numpy_iterator()] == expected
    with pytest.raises(ValueError, match="no labels"):
        datasets.load("wordnet_sentences", with_labels=True, verbose=False)


def test_wordnet_not_found_lists_places(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_WORDNET_SYSTEM_DIRS", (str(tmp_path / "wordnet"),))
    monkeypatch.setenv("WNHOME", str(tmp_path / "wnhome"))
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "data.noun").write_text("")
    with pytest.raises(datasets.DatasetNotFoundError) as excinfo:
        datasets.wordnet_sentences(manual_dir=tmp_path / "manual")
    message = str(excinfo.value)
    assert f"manual_dir {tmp_path / 'manual'} (WordNet data files): missing data.verb" in message
    assert f"$WNHOME/dict = {tmp_path / 'wnhome' / 'dict'}" in message
    assert f"{tmp_path / 'wordnet'} (WordNet data files): no such directory" in message
    assert "apt-get install wordnet-base" in message


def test_gloss_parsing():
    parse = datasets._gloss_sentences
    assert parse("settle by concession  \n") == ["settle by concession"]
    assert parse('achieve harmony; "No two would agree"; "we agree"- A. Writer  ') == [
        "achieve harmony",
        "No two would agree",
        "we agree",
    ]
    assert parse("female of domestic cattle: \"`moo-cow' is a child's term\"") == [
        "female of domestic cattle",
        "`moo-cow' is a child's term",
    ]
    assert parse('keep in a state; e.g., "keep clean"') == ["keep in a state", "keep clean"]
    # An unterminated example quote runs to the end of the gloss.
    assert parse('move up; "She ascended from a life of poverty') == [
        "move up",
        "She ascended from a life of poverty",
    ]
