"""Text data: WordNet definitions and examples, and `.txt` sentence files."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from vae_zoo.datasets.catalog import SPLITS, _check_choice
from vae_zoo.datasets.readers import DataSource
from vae_zoo.datasets.sources import _WORDNET_FILES, _find_wordnet_dir, _resolve, _set_source

# Sentences go to train / validation / test by the md5 of their text:
# bucket = first 8 digest bytes mod 100; [0, 90) train, [90, 95) validation.
_TEXT_SPLIT_BOUNDS = (90, 95)


def load_sentences(name_or_path, split="train", data_dir=None, manual_dir=None):
    """Returns the sentences of a text dataset split as a Python list.

    Handy for building a tokenizer vocabulary. The split is by a stable md5
    hash of each sentence (about 90% train, 5% validation, 5% test), so it
    never depends on file order or on Python's hash seed, and a sentence that
    occurs several times is always in a single split.

    Args:
        name_or_path: `"wordnet_sentences"` or a `.txt` file path (one
            sentence per line; whitespace is collapsed, blank lines dropped,
            duplicates kept).
        split: `"train"`, `"validation"`, `"test"` or `"all"`.
        data_dir: `<data_dir>/wordnet/` is searched for WordNet files.
        manual_dir: a directory holding WordNet's `data.*` files.

    Returns:
        A list of `str`, in corpus order.

    Example:

    >>> sentences = load_sentences("wordnet_sentences", "validation")
    >>> len(sentences) > 1000
    True
    """
    _check_choice("split", split, SPLITS)
    kind, target = _resolve(name_or_path)
    if kind != "text":
        raise ValueError(f"{target!r} is an image dataset; use load_arrays() or load() for it")
    sentences, source = _sentences(target, split, data_dir, manual_dir)
    _set_source(target, source)
    return sentences


def wordnet_sentences(split="train", data_dir=None, manual_dir=None):
    """Returns WordNet definitions and example sentences of a split.

    The corpus is built from WordNet 3.0's `data.noun`, `data.verb`,
    `data.adj` and `data.adv`: the gloss of every synset gives its
    definition and its quoted example sentences ("..."), each one sentence
    (whitespace collapsed, surrounding quotes stripped, case untouched). The
    corpus is deduplicated and split by a stable hash of each sentence (see
    `load_sentences()`).

    The files are looked for in `manual_dir`, `<data_dir>/wordnet`,
    `$VAE_ZOO_DATA/wordnet`, `$WNHOME/dict` and `/usr/share/wordnet` (Debian
    package `wordnet-base`).

    Args:
        split: `"train"`, `"validation"`, `"test"` or `"all"`.
        data_dir: see above.
        manual_dir: see above.

    Returns:
        A list of `str`.

    Example:

    >>> corpus = wordnet_sentences("all")
    >>> "obstruct or hinder any discussion" in corpus  # a definition
    True
    >>> "Nixon stonewalled the Watergate investigation" in corpus  # an example
    True
    >>> len(wordnet_sentences("train")) > 10 * len(wordnet_sentences("test"))
    True
    """
    return load_sentences("wordnet_sentences", split, data_dir=data_dir, manual_dir=manual_dir)


# --------------------------------------------------------------------------
# Text data
# --------------------------------------------------------------------------


def _sentences(target, split, data_dir, manual_dir):
    """Returns `(sentences of split, source)` of a text dataset name or path."""
    if target == "wordnet_sentences":
        directory = _find_wordnet_dir(data_dir, manual_dir)
        corpus = _wordnet_corpus(str(directory))
        source = DataSource("wordnet", str(directory))
    else:
        corpus = _read_text_file(target)
        source = DataSource("text", target)
    if split == "all":
        return list(corpus), source
    return [s for s in corpus if _text_split(s) == split], source


def _text_split(sentence):
    digest = hashlib.md5(sentence.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    train_end, validation_end = _TEXT_SPLIT_BOUNDS
    if bucket < train_end:
        return "train"
    return "validation" if bucket < validation_end else "test"


def _read_text_file(path):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"Cannot read text file {path} as UTF-8: {e}") from e
    lines = (" ".join(line.split()) for line in text.splitlines())
    return tuple(line for line in lines if line)


@functools.lru_cache(maxsize=4)
def _wordnet_corpus(directory):
    """All distinct sentences of the WordNet glosses in `directory`, in file order."""
    sentences = {}
    for name in _WORDNET_FILES:
        path = Path(directory) / name
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the license header
                    continue
                _, bar, gloss = line.partition(" | ")
                if not bar:
                    continue
                for sentence in _gloss_sentences(gloss):
                    sentences.setdefault(sentence, None)
    return tuple(sentences)


_QUOTED = re.compile(r'("[^"]*")')
# What may precede the first quoted example of a gloss, and the part of it
# that is dropped from the end of the definition.
_EXAMPLES_START = re.compile(r"(?:[;:,)]|\be\.g\.,?)$")
_EXAMPLES_LEAD = re.compile(r"[;,]?\s*(?:\bas in\s+)?\be\.g\.,?$")


def _gloss_sentences(gloss):
    """Splits a WordNet gloss into its definition and its quoted examples.

    A gloss is `definition; "example"; "example"`. A quoted text opening the
    gloss or following `;`, `:`, `,`, `)` or `e.g.` starts the examples; a
    quoted text inside the definition (`as in "carrot and stick"`) stays part
    of it. Text after
    the examples (attributions such as `- Henry Miller`) is dropped. A few
    glosses are malformed; an unterminated quote runs to the end of the gloss.
    """
    chunks = _QUOTED.split(gloss)  # unquoted, "quoted", unquoted, ..., unquoted
    pieces = [(i % 2 == 1, chunk[1:-1] if i % 2 else chunk) for i, chunk in enumerate(chunks)]
    head, quote, tail = pieces[-1][1].partition('"')
    if quote:
        pieces[-1:] = [(False, head), (True, tail)]
    definition, examples = [], []
    for quoted, text in pieces:
        if quoted and not text.strip():
            continue
        if not quoted:
            if not examples:
                definition.append(text)
            continue
        before = "".join(definition).rstrip()
        if examples or not before or _EXAMPLES_START.search(before):
            examples.append(text)
        else:
            definition.append(f'"{text}"')
    sentences = [_clean_sentence(_EXAMPLES_LEAD.sub("", "".join(definition).rstrip()))]
    sentences += [_clean_sentence(example) for example in examples]
    return [s for s in sentences if len(s) > 1 and any(c.isalnum() for c in s)]


def _clean_sentence(text):
    text = " ".join(text.split()).strip(" ;:,")
    if text.count('"') % 2:  # an unpaired quote left by a malformed gloss
        if text.endswith('"'):
            text = text[:-1]
        elif text.startswith('"'):
            text = text[1:]
        text = text.strip(" ;:,")
    return text
