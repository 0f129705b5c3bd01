"""Shared helpers of the serving client tests (``from serving_testing import ...``).

* hand-made arrays (``_x``, ``_z``, ``LATENT``, ``IMAGE``);
* two real exports, made once per test process: a tiny image model
  (``DenseVAE``) and a tiny sentence model (``SequenceVAE`` with a
  vocabulary), with the metadata TF Serving would answer for them (REST JSON
  and a gRPC ``GetModelMetadataResponse``, both built from the SavedModel's
  own ``SignatureDefMap``), and what their signatures answer when run here.

The stand-ins for TF Serving on top of such an export are in
``tf_serving_standins.py``; the stubbed ``urllib.request.urlopen`` (the
``transport`` fixture) is in this folder's conftest.py.

TensorFlow and vae_zoo are imported only inside the export helpers.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import sys
import tempfile

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import client as sc  # noqa: E402

LATENT = 4
IMAGE = (28, 28, 1)

#: The tiny exports: image data [B, 4, 4, 1] and latent 3; sentences and latent 2.
SMALL_IMAGE, SMALL_LATENT, SENTENCE_LATENT = (4, 4, 1), 3, 2
CORPUS = ["a small dog", "a cat sat", "the dog ran", "a dog sat"]
KINDS = ("image", "sentence")
#: Every signature of an export, `serving_default` included.
SIGNATURES = (
    "encode",
    "decode",
    "reconstruct",
    "serving_default",
    "encode_sample",
    "decode_sample",
    "sample",
    "log_likelihood",
)
LOG_LIKELIHOOD_SAMPLES = 4


def _x(n=2, seed=0, shape=IMAGE):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype(np.float32)


def _z(n=3, seed=1, latent=LATENT):
    return np.random.default_rng(seed).standard_normal((n, latent)).astype(np.float32)


# ---------------------------------------------------------------------------
# Real exports
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def exported(kind):
    """``(model, saved_model_dir)`` of the tiny image or sentence model, exported once per process."""
    import vae_zoo
    from vae_zoo.export import export_saved_model
    from vae_zoo.text import TextCodec

    if kind == "image":
        model = vae_zoo.models.DenseVAE(SMALL_IMAGE, latent_dim=SMALL_LATENT, hidden_units=(8,), seed=0)
    elif kind == "sentence":
        codec = TextCodec.from_corpus(CORPUS, max_length=6)
        model = vae_zoo.models.SequenceVAE(
            vocabulary=codec.vocabulary,
            max_length=6,
            embedding_dim=4,
            hidden_units=8,
            latent_dim=SENTENCE_LATENT,
            seed=0,
        )
    else:
        raise ValueError(kind)
    base = tempfile.mkdtemp(prefix=f"serving-{kind}-")
    atexit.register(shutil.rmtree, base, True)
    path = export_saved_model(model, base, warmup=False, log_likelihood_samples=LOG_LIKELIHOOD_SAMPLES)
    return model, path


@functools.lru_cache(maxsize=None)
def loaded(kind):
    import tensorflow as tf

    return tf.saved_model.load(exported(kind)[1])


def signature_def_map(kind):
    """The export's ``SignatureDefMap`` (what ``GetModelMetadata`` packs), read from its saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(exported(kind)[1], "saved_model.pb"), "rb") as fh:
        saved.ParseFromString(fh.read())
    (graph,) = saved.meta_graphs
    result = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in graph.signature_def.items():
        result.signature_def[name].CopyFrom(signature)
    return result


def grpc_metadata_response(kind, model_name="vae", version=1):
    from tensorflow_serving.apis import get_model_metadata_pb2

    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = model_name
    response.model_spec.version.value = version
    response.metadata["signature_def"].Pack(signature_def_map(kind))
    return response


@functools.lru_cache(maxsize=None)
def _rest_metadata_text(kind):
    from google.protobuf import json_format

    signature_defs = json_format.MessageToDict(signature_def_map(kind), preserving_proto_field_name=True)
    return json.dumps(
        {
            "model_spec": {"name": "vae", "signature_name": "", "version": "1"},
            "metadata": {"signature_def": signature_defs},
        }
    )


def rest_metadata(kind):
    """The JSON of REST ``GET /v1/models/vae/metadata`` for the export (a fresh copy)."""
    return json.loads(_rest_metadata_text(kind))


def specs(kind):
    return sc.signature_specs(rest_metadata(kind))


def model_inputs(kind, signature, n=3, seed=0):
    """Valid inputs of ``signature`` for ``n`` rows, by name, from the metadata."""
    rng = np.random.default_rng(seed)
    values = {}
    for name, spec in specs(kind)[signature]["inputs"].items():
        if name in ("x", "sentences"):
            values[name] = (
                [CORPUS[i % len(CORPUS)] for i in range(n)]
                if spec.dtype == "DT_STRING"
                else _x(n, seed, SMALL_IMAGE)
            )
        elif name == "z":
            values[name] = rng.standard_normal((n, spec.shape[1])).astype(np.float32)
        elif name == "seed":
            values[name] = np.arange(11, 11 + n, dtype=np.int64)
        elif name == "temperature":
            values[name] = np.linspace(0.5, 1.0, n).astype(np.float32)
        else:
            raise AssertionError(f"no test value for input {name!r}")
    return values


def run_signature(kind, signature, inputs):
    """The loaded SavedModel's ``signature`` on numpy ``inputs`` -> ``{name: np.ndarray}`` (strings as
    str)."""
    import tensorflow as tf

    fn = loaded(kind).signatures[signature]
    out = fn(**{name: tf.constant(value) for name, value in inputs.items()})
    # Every row of these inputs is valid; the clients drop the per-row `error` output once it is all "".
    assert _as_text(out.pop("error").numpy()).tolist() == [""] * len(next(iter(inputs.values()))), signature
    return {name: _as_text(t.numpy()) for name, t in out.items()}


def _as_text(arr):
    if arr.dtype == object:
        return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v, otypes=[object])(arr)
    return arr


def assert_outputs_equal(got, expected, atol=1e-5):
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for name in expected:
        assert got[name].shape == expected[name].shape, name
        if expected[name].dtype == object:
            assert got[name].tolist() == expected[name].tolist(), name
        else:
            assert got[name].dtype == expected[name].dtype, name
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=atol, err_msg=name)
