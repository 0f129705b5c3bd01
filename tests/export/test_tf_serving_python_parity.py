"""In this process, on the exports of the ``runs`` fixture: the Python methods match the loaded signatures
for the same seeds, and inputs that disagree on the batch fail naming them.
"""

import re

import numpy as np
import pytest
import tensorflow as tf
from export_testing import KINDS


@pytest.fixture(scope="module")
def loaded(runs):
    return {kind: tf.saved_model.load(run["path"]) for kind, run in runs.items()}


@pytest.mark.parametrize("kind", ["dense", "conv_full", "hierarchical"])
def test_python_sample_matches_the_signature_for_the_same_seeds(runs, loaded, kind):
    model, sample = runs[kind]["model"], loaded[kind].signatures["sample"]
    for temperature in (1.0, 0.5):
        out = sample(seed=tf.constant(7 + np.arange(4), tf.int64), temperature=tf.fill([4], temperature))
        np.testing.assert_allclose(
            out["x"].numpy(), model.sample(4, seed=7, temperature=temperature).numpy(), atol=1e-5
        )
        np.testing.assert_allclose(
            out["z"].numpy(), model.sample_latents(4, seed=7, temperature=temperature).numpy(), atol=1e-5
        )


def test_python_sentences_match_the_signature_for_the_same_seeds(runs, loaded):
    model, signatures = runs["sentences"]["model"], loaded["sentences"].signatures
    seeds = tf.constant(7 + np.arange(4), tf.int64)
    out = signatures["sample"](seed=seeds, temperature=tf.ones([4]))
    assert [s.decode() for s in out["sentences"].numpy()] == model.sample_sentences(
        4, seed=7, temperature=1.0
    )
    np.testing.assert_allclose(out["z"].numpy(), model.sample_latents(4, seed=7).numpy(), atol=1e-5)
    # decode_sample at temperature 0 is greedy: decode
    z = tf.constant(runs["sentences"]["inputs"]["decode"]["z"])
    greedy = signatures["decode_sample"](
        z=z, seed=tf.constant([1, 2, 3], tf.int64), temperature=tf.zeros([3])
    )
    assert greedy["sentences"].numpy().tolist() == signatures["decode"](z=z)["sentences"].numpy().tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_that_disagree_on_the_batch_fail_naming_them(runs, loaded, kind):
    data = runs[kind]["inputs"]["encode_sample"]
    name = "sentences" if kind == "sentences" else "x"
    signature = loaded[kind].signatures["encode_sample"]
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        signature(**{name: tf.constant(data[name][:2]), "seed": tf.constant([1, 2, 3], tf.int64)})
    message = str(info.value)
    assert re.search(r"\bseed\b", message) and re.search(rf"\b{name}\b", message), message
