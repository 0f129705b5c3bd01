"""SavedModel export: signatures, versions, a process without vae_zoo, saved_model_cli, warmup."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import vae_zoo
from vae_zoo.export import saved_model as sm
from vae_zoo.export.warmup import example_inputs

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

# Runs in a fresh interpreter in which `import vae_zoo` and `import tensorflow_probability` fail.
RUNNER = r"""
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

path, inputs_file, out_file = sys.argv[1:4]
inputs = dict(np.load(inputs_file, allow_pickle=False))
results = {}
for load in (1, 2):
    model = tf.saved_model.load(path)
    for name in ("encode", "decode", "sample", "reconstruct", "log_likelihood", "serving_default"):
        fn = model.signatures[name]
        args = {k.split("__")[1]: tf.constant(v) for k, v in inputs.items() if k.startswith(name + "__")}
        for key, value in fn(**args).items():
            results[f"{load}__{name}__{key}"] = value.numpy()
warmups = 0
for record in tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests"):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    request = log.predict_log.request
    fn = model.signatures[request.model_spec.signature_name]
    fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
    warmups += 1
np.savez(out_file, **results)
print(json.dumps({"warmups": warmups, "modules": sorted(m for m in sys.modules if m.startswith(("vae_zoo", "tensorflow_probability")))}))
"""


def _inputs(model, rng):
    x = rng.random((3, *model.data_shape), dtype="float32")
    seed = np.array([11, 7], "int32")
    return {
        "encode": {"x": x, "seed": seed},
        "decode": {"z": rng.normal(size=(3, model.latent_dim)).astype("float32")},
        "sample": {"num_samples": np.int32(5), "seed": seed, "temperature": np.float32(0.8)},
        "reconstruct": {"x": x, "seed": seed},
        "log_likelihood": {"x": x, "num_samples": np.int32(50), "seed": seed},
        "serving_default": {"x": x, "seed": np.array([0, 0], "int32")},
    }


def _eager(model, inputs):
    fns = sm.signature_functions(model)
    fns["serving_default"] = fns["reconstruct"]
    return {name: {k: v.numpy() for k, v in fns[name](**args).items()} for name, args in inputs.items()}


@pytest.fixture(scope="module", params=["dense", "conv"])
def exported(request, tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    if request.param == "dense":
        model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
    else:
        model = vae_zoo.models.ConvVAE((28, 28, 1), latent_dim=3, filters=(8, 16), hidden_units=16, posterior="full", seed=0)
    base = tmp_path_factory.mktemp(request.param)
    path = vae_zoo.export_saved_model(model, str(base))
    return model, str(base), path


def test_signatures_run_without_vae_zoo_and_match_eager(exported, tmp_path):
    model, _, path = exported
    inputs = _inputs(model, np.random.default_rng(0))
    flat = {f"{sig}__{k}": v for sig, args in inputs.items() for k, v in args.items()}
    np.savez(tmp_path / "in.npz", **flat)
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, path, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"warmups": 6, "modules": []}
    loaded = dict(np.load(tmp_path / "out.npz"))
    eager = _eager(model, inputs)
    for name, outputs in eager.items():
        for key, value in outputs.items():
            first, second = loaded[f"1__{name}__{key}"], loaded[f"2__{name}__{key}"]
            np.testing.assert_array_equal(first, second)  # same seed, same output, on every load
            np.testing.assert_allclose(first, value, atol=1e-5, rtol=1e-5, err_msg=f"{name}/{key}")
    # seed [0, 0] reconstructs from the posterior mean; another seed draws z
    np.testing.assert_allclose(loaded["1__serving_default__reconstruction"], model.reconstruct(inputs["encode"]["x"]).numpy(), atol=1e-5)
    assert not np.allclose(loaded["1__reconstruct__reconstruction"], loaded["1__serving_default__reconstruction"])
    assert loaded["1__sample__x"].shape == (5, 28, 28, 1) and loaded["1__log_likelihood__log_likelihood"].shape == (3,)


def test_metadata_and_layout(exported):
    model, base, path = exported
    assert os.path.basename(path) == "1"
    assert sorted(os.listdir(base)) == ["1"]  # no staging directory left behind
    meta = json.load(open(os.path.join(path, "assets.extra", "vae_zoo.json")))
    assert meta["model_class"] == type(model).__name__
    assert meta["input_shape"] == [28, 28, 1] and meta["input_dtype"] == "float32"
    assert meta["latent_dim"] == model.latent_dim and meta["vae_zoo_version"] == vae_zoo.__version__
    assert meta["config"]["latent_dim"] == model.latent_dim and meta["likelihood"] == "BernoulliLikelihood"


def test_versions_are_never_overwritten(exported):
    model, base, path = exported
    second = vae_zoo.export_saved_model(model, base, warmup=False)
    assert os.path.basename(second) == "2"
    assert sm.next_version(base) == 3
    with pytest.raises(FileExistsError, match="already exists; it is never overwritten"):
        vae_zoo.export_saved_model(model, base, version=1)
    for bad in ("latest", 1.5, 0, -2):
        with pytest.raises(ValueError, match="version must be a positive integer"):
            vae_zoo.export_saved_model(model, base, version=bad)


def test_saved_model_cli(exported, tmp_path):
    model, _, path = exported
    show = subprocess.run(["saved_model_cli", "show", "--dir", path, "--all"], env=ENV, capture_output=True, text=True, timeout=120)
    assert show.returncode == 0, show.stderr[-2000:]
    for name in sm.SIGNATURES:
        assert f"signature_def['{name}']" in show.stdout
    assert "inputs['temperature'] tensor_info:" in show.stdout and "outputs['log_likelihood'] tensor_info:" in show.stdout
    for name, value in (("n", np.int32(2)), ("seed", np.array([1, 2], "int32")), ("t", np.float32(1.0))):
        np.save(tmp_path / f"{name}.npy", value)
    feeds = f"num_samples={tmp_path}/n.npy;seed={tmp_path}/seed.npy;temperature={tmp_path}/t.npy"
    run = subprocess.run(
        ["saved_model_cli", "run", "--dir", path, "--tag_set", "serve", "--signature_def", "sample",
         "--inputs", feeds, "--outdir", str(tmp_path), "--overwrite"],
        env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), model.sample_outputs(2, [1, 2], 1.0)["x"].numpy(), atol=1e-5)


def test_wrong_inputs_fail_with_tensorflow_errors_naming_the_input(exported):
    model, _, path = exported
    loaded = tf.saved_model.load(path)
    encode = loaded.signatures["encode"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor x \[2,784\] is not compatible with expected shape \[\?,28,28,1\]"):
        encode(x=tf.zeros((2, 784)), seed=tf.constant([1, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor seed \[3\] is not compatible"):
        encode(x=tf.zeros((2, 28, 28, 1)), seed=tf.constant([1, 2, 3]))
    # dtype: TensorFlow's own check, naming the input by position (inputs sorted by name: seed, x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="input #0\\(zero-based\\) was expected to be a int32 tensor but is a float"):
        encode(x=tf.zeros((2, 28, 28, 1)), seed=tf.constant([1.0, 2.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="input values in \\[0, 1\\]"):
        encode(x=tf.fill((1, 28, 28, 1), 3.0), seed=tf.constant([1, 2]))


def test_client_requests_match_the_exported_signatures(exported):
    """serving/client.py builds requests whose input names and dtypes are those of the SavedModel."""
    from serving import client

    model, _, path = exported
    loaded = tf.saved_model.load(path)
    for name, inputs in example_inputs(model).items():
        request = client.grpc_predict_request(inputs, name)
        specs = loaded.signatures[name].structured_input_signature[1]
        assert set(request.inputs) == set(specs), name
        for key, spec in specs.items():
            assert tf.dtypes.as_dtype(request.inputs[key].dtype) == spec.dtype, (name, key)
            assert spec.shape.is_compatible_with(tf.make_ndarray(request.inputs[key]).shape), (name, key)
