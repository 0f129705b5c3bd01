"""benchmarks/sentence_vae.py's language model: the same softmax as the sentence VAE's decoder."""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import text

PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "sentence_vae.py"
)


def _benchmark():
    spec = importlib.util.spec_from_file_location("sentence_vae_benchmark", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_language_model_masks_pad_and_bos_like_the_vae():
    benchmark = _benchmark()
    lm = benchmark.LanguageModel(vocab_size=7, embedding_dim=3, hidden_units=4, seed=0)
    ids = np.array([[4, 5, 3, 0], [6, 3, 0, 0]], np.int32)  # words then [EOS], [PAD]-padded
    nll = lm.nll(tf.constant(ids)).numpy()
    raw = lm.head(lm.hidden(tf.constant(ids))).numpy().astype(np.float64)  # logits before the mask
    allowed = [i for i in range(7) if i not in (text.PAD, text.BOS)]
    log_p = raw[..., allowed] - np.log(np.exp(raw[..., allowed]).sum(-1, keepdims=True))
    expected = [
        -sum(log_p[b, t, allowed.index(ids[b, t])] for t in range(4) if ids[b, t] != text.PAD)
        for b in range(2)
    ]
    np.testing.assert_allclose(nll, expected, rtol=1e-5)
    unmasked = raw - np.log(np.exp(raw).sum(-1, keepdims=True))
    assert (
        -unmasked[0, 0, 4] > -log_p[0, 0, allowed.index(4)] + 1e-3
    )  # [PAD] and [BOS] would take probability mass
    report = benchmark.measure_language_model(nll, ids)
    assert report["tokens"] == 5 and report["test_num_examples"] == 2
    assert report["perplexity"] == pytest.approx(np.exp(nll.sum() / 5), rel=1e-6)


def test_the_baseline_of_a_preset_needs_the_recipe_that_trained_it(tmp_path):
    benchmark = _benchmark()
    other = os.path.join(os.path.dirname(PATH), "..", "training", "recipes", "dense_fashion_mnist.yaml")
    with pytest.raises(ValueError, match="was trained by 'training/recipes/lstm_wordnet_sentences.yaml'"):
        benchmark.preset_vae("lstm_wordnet_sentences", other)
    with pytest.raises(ValueError, match="--run and --preset both name the VAE"):
        benchmark.main(["--run", str(tmp_path), "--preset", "lstm_wordnet_sentences"])
