"""Shared by the export tests: the models of each export kind, their signature inputs, and the preamble of a
process in which vae_zoo and TFP cannot be imported."""

import numpy as np
import tensorflow as tf

import vae_zoo
from vae_zoo.text import TextCodec

KINDS = ("dense", "conv_full", "hierarchical", "sentences")
SENTENCES = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "the bird sang",
    "a cat and a dog",
    "it rained",
]

# The start of a script run in a fresh interpreter: `import vae_zoo` and `import tensorflow_probability`
# fail there (checked), as on a TF Serving host that has only TensorFlow.
BLOCKED_PREAMBLE = r"""
import importlib.abc, json, sys
import numpy as np

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("vae_zoo", "tensorflow_probability"):
            raise ImportError(f"{name} is blocked in this process")
        return None

sys.meta_path.insert(0, Blocker())
try:
    import vae_zoo  # noqa
    raise SystemExit("the blocker did not work")
except ImportError:
    pass
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
"""


def build_model(kind):
    """The tiny model of each export kind: dense, full-covariance conv, hierarchical (three layers, a
    VampPrior at the top), sentences."""
    tf.keras.utils.set_random_seed(0)
    if kind == "dense":
        return vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
    if kind == "conv_full":
        return vae_zoo.models.ConvVAE(
            (28, 28, 1), latent_dim=3, filters=(8, 16), hidden_units=16, posterior="full", seed=0
        )
    if kind == "hierarchical":
        return vae_zoo.models.HierarchicalVAE(
            (28, 28, 1),
            latent_dims=(3, 2, 2),
            channels=4,
            hidden_units=16,
            prior={"name": "vamp", "num_components": 3},
            seed=0,
        )
    codec = TextCodec.from_corpus(SENTENCES, max_length=12)
    return vae_zoo.models.SequenceVAE(
        vocabulary=codec.vocabulary, max_length=12, embedding_dim=8, hidden_units=16, latent_dim=4, seed=0
    )


def signature_inputs(model, kind):
    """Three rows for every signature, by input name."""
    rng = np.random.default_rng(0)
    if kind == "sentences":
        data = {
            "sentences": np.array(["the cat sat", "a dog sang in the rain", "zebra"])
        }  # "zebra" is out of vocabulary
        temperature = np.array([1.0, 0.7, 1.3], "float32")
    else:
        data = {"x": rng.random((3, *model.data_shape), dtype="float32")}
        temperature = np.array([1.0, 0.5, 0.8], "float32")
    z = {"z": rng.standard_normal((3, model.latent_dim)).astype("float32")}
    seed = {"seed": np.array([11, 12, 2**40 + 5], "int64")}  # the last row's key uses both halves
    inputs = {
        "encode": data,
        "decode": z,
        "reconstruct": data,
        "serving_default": data,
        "encode_sample": {**data, **seed},
        "decode_sample": {**z, **seed, **({"temperature": temperature} if kind == "sentences" else {})},
        "sample": {**seed, "temperature": temperature},
        "log_likelihood": {**data, **seed},
    }
    return inputs
