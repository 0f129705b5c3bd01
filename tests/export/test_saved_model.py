"""SavedModel export: signatures, versions, a process without vae_zoo, saved_model_cli, warmup, client
requests.

How TF Serving's C++ server and its batcher run the exports is in
test_tf_serving_session*.py; this module checks the export itself.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import vae_zoo
from vae_zoo.export import saved_model as sm
from vae_zoo.export.warmup import example_inputs, warmup_batch_sizes
from export_testing import BLOCKED_PREAMBLE

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

# Runs in a fresh interpreter in which `import vae_zoo` and `import tensorflow_probability` fail.
RUNNER = (
    BLOCKED_PREAMBLE
    + r"""

path, inputs_file, out_file = sys.argv[1:4]
inputs = dict(np.load(inputs_file, allow_pickle=False))
results = {}
for load in (1, 2):
    model = tf.saved_model.load(path)
    for name in (
        "encode", "decode", "reconstruct", "encode_sample", "decode_sample", "sample", "log_likelihood",
        "serving_default",
    ):
        fn = model.signatures[name]
        args = {k.split("__")[1]: tf.constant(v) for k, v in inputs.items() if k.startswith(name + "__")}
        for key, value in fn(**args).items():
            results[f"{load}__{name}__{key}"] = value.numpy()
warmups = []
for record in tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests"):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    request = log.predict_log.request
    fn = model.signatures[request.model_spec.signature_name]
    args = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    fn(**args)
    warmups.append([request.model_spec.signature_name, int(next(iter(args.values())).shape[0])])
np.savez(out_file, **results)
modules = sorted(m for m in sys.modules if m.startswith(("vae_zoo", "tensorflow_probability")))
print(json.dumps({"warmups": sorted(warmups), "modules": modules}))
"""
)


def _inputs(model, rng):
    """Three rows for every signature, by input name."""
    x = rng.random((3, *model.data_shape), dtype="float32")
    seed = np.array([11, 7, 2**33 + 1], "int64")
    return {
        "encode": {"x": x},
        "decode": {"z": rng.normal(size=(3, model.latent_dim)).astype("float32")},
        "reconstruct": {"x": x},
        "encode_sample": {"x": x, "seed": seed},
        "decode_sample": {"z": rng.normal(size=(3, model.latent_dim)).astype("float32"), "seed": seed},
        "sample": {"seed": seed, "temperature": np.array([1.0, 0.8, 0.0], "float32")},
        "log_likelihood": {"x": x, "seed": seed},
        "serving_default": {"x": x},
    }


def _eager(model, inputs):
    """The signature functions called eagerly, their inputs in the order of their specs."""
    signatures = model.serving_signatures()
    signatures["serving_default"] = signatures["reconstruct"]
    out = {}
    for name, args in inputs.items():
        fn, specs = signatures[name]
        out[name] = {k: v.numpy() for k, v in fn(*(tf.constant(args[spec.name]) for spec in specs)).items()}
    return out


def _start(args, out_dir, name):
    """A subprocess whose stdout and stderr go to files (read when the test needs them)."""
    stdout, stderr = open(out_dir / f"{name}.out", "w"), open(out_dir / f"{name}.err", "w")
    return (
        subprocess.Popen(args, env=ENV, stdout=stdout, stderr=stderr, text=True),
        out_dir / f"{name}.out",
        out_dir / f"{name}.err",
    )


def _finish(started, timeout=300):
    process, out, err = started
    process.wait(timeout=timeout)
    return process.returncode, out.read_text(), err.read_text()


def _export(kind, base):
    tf.keras.utils.set_random_seed(0)
    if kind == "dense":
        model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
    else:
        model = vae_zoo.models.ConvVAE(
            (28, 28, 1), latent_dim=3, filters=(8, 16), hidden_units=16, posterior="full", seed=0
        )
    path = vae_zoo.export_saved_model(model, str(base))
    work = base.parent / f"{kind}_work"
    work.mkdir()
    inputs = _inputs(model, np.random.default_rng(0))
    np.savez(work / "in.npz", **{f"{sig}__{k}": v for sig, args in inputs.items() for k, v in args.items()})
    # The subprocesses start now and run while the other tests (and the next export) do.
    started = {
        "runner": _start(
            [sys.executable, "-c", RUNNER, path, str(work / "in.npz"), str(work / "out.npz")], work, "runner"
        )
    }
    if kind == "dense":  # saved_model_cli on one export (its checks do not depend on the family)
        np.save(work / "seed.npy", np.array([1, 2], "int64"))
        np.save(work / "t.npy", np.array([1.0, 1.0], "float32"))
        started["show"] = _start(["saved_model_cli", "show", "--dir", path, "--all"], work, "show")
        started["run"] = _start(
            [
                "saved_model_cli",
                "run",
                "--dir",
                path,
                "--tag_set",
                "serve",
                "--signature_def",
                "sample",
                "--inputs",
                f"seed={work}/seed.npy;temperature={work}/t.npy",
                "--outdir",
                str(work),
                "--overwrite",
            ],
            work,
            "run",
        )
    return {
        "model": model,
        "base": str(base),
        "path": path,
        "inputs": inputs,
        "work": work,
        "started": started,
    }


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return {kind: _export(kind, tmp_path_factory.mktemp(kind)) for kind in ("dense", "conv")}


@pytest.fixture(scope="module", params=["dense", "conv"])
def exported(request, exports):
    export = exports[request.param]
    return export["model"], export["base"], export["path"]


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_signatures_run_without_vae_zoo_and_match_eager(exports, kind):
    export = exports[kind]
    model, inputs, work = export["model"], export["inputs"], export["work"]
    returncode, stdout, stderr = _finish(export["started"]["runner"])
    assert returncode == 0, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["modules"] == []
    assert report["warmups"] == sorted([name, b] for name in sm.SIGNATURES for b in warmup_batch_sizes())
    loaded = dict(np.load(work / "out.npz", allow_pickle=True))
    eager = _eager(model, inputs)
    for name, outputs in eager.items():
        # every row of these inputs is valid: the per-row `error` output is "" throughout
        assert (
            loaded.pop(f"1__{name}__error").tolist() == loaded.pop(f"2__{name}__error").tolist() == [b""] * 3
        )
        assert {k.split("__")[2] for k in loaded if k.startswith(f"1__{name}__")} == set(outputs), name
        for key, value in outputs.items():
            first, second = loaded[f"1__{name}__{key}"], loaded[f"2__{name}__{key}"]
            np.testing.assert_array_equal(first, second)  # same inputs, same outputs, on every load
            np.testing.assert_allclose(first, value, atol=1e-5, rtol=1e-5, err_msg=f"{name}/{key}")
    x = inputs["encode"]["x"]
    # reconstruct = serving_default: the likelihood mean at the posterior mean, no seed
    np.testing.assert_allclose(
        loaded["1__reconstruct__reconstruction"], model.reconstruct(x).numpy(), atol=1e-5
    )
    np.testing.assert_array_equal(
        loaded["1__serving_default__reconstruction"], loaded["1__reconstruct__reconstruction"]
    )
    np.testing.assert_allclose(loaded["1__encode__mean"], model.encode(x).mean().numpy(), atol=1e-5)
    assert not np.allclose(loaded["1__encode_sample__z"], loaded["1__encode__mean"])  # a draw, not the mean
    assert loaded["1__sample__x"].shape == (3, 28, 28, 1) and loaded["1__sample__z"].shape == (
        3,
        model.latent_dim,
    )
    np.testing.assert_allclose(loaded["1__sample__z"][2], 0.0, atol=1e-6)  # temperature 0: the prior's mean
    assert loaded["1__decode_sample__x"].shape == (3, 28, 28, 1)
    assert set(np.unique(loaded["1__decode_sample__x"])) <= {0.0, 1.0}  # Bernoulli draws
    assert loaded["1__log_likelihood__log_likelihood"].shape == (3,)


def test_metadata_and_layout(exported):
    model, base, path = exported
    assert os.path.basename(path) == "1"
    assert sorted(os.listdir(base)) == ["1"]  # no staging directory left behind
    meta = json.load(open(os.path.join(path, "assets.extra", "vae_zoo.json")))
    assert meta["model_class"] == type(model).__name__
    assert meta["input_shape"] == [28, 28, 1] and meta["input_dtype"] == "float32"
    assert meta["latent_dim"] == model.latent_dim and meta["vae_zoo_version"] == vae_zoo.__version__
    assert meta["config"]["latent_dim"] == model.latent_dim and meta["likelihood"] == "BernoulliLikelihood"
    assert meta["log_likelihood_samples"] == 100  # the default K
    assert sorted(meta["signatures"]) == sorted(sm.SIGNATURES)
    assert os.path.isfile(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"))


def test_versions_are_never_overwritten_and_bad_arguments_are_refused(exported):
    model, base, path = exported
    second = sm.export_saved_model(model, base, warmup=False, log_likelihood_samples=7)
    assert os.path.basename(second) == "2"
    assert sm.next_version(base) == 3
    assert (
        json.load(open(os.path.join(second, "assets.extra", "vae_zoo.json")))["log_likelihood_samples"] == 7
    )
    assert not os.path.exists(os.path.join(second, "assets.extra", "tf_serving_warmup_requests"))
    with pytest.raises(FileExistsError, match="already exists; it is never overwritten"):
        vae_zoo.export_saved_model(model, base, version=1)
    for bad in ("latest", 1.5, 0, -2):
        with pytest.raises(ValueError, match="version must be a positive integer"):
            vae_zoo.export_saved_model(model, base, version=bad)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="log_likelihood_samples"):
            sm.export_saved_model(model, base, log_likelihood_samples=bad)
    assert sorted(os.listdir(base)) == ["1", "2"]  # refused exports leave nothing behind


def test_saved_model_cli(exports):
    export = exports["dense"]
    returncode, stdout, stderr = _finish(export["started"]["show"], timeout=120)
    assert returncode == 0, stderr[-2000:]
    for name in sm.SIGNATURES:
        assert f"signature_def['{name}']" in stdout
    assert (
        "inputs['temperature'] tensor_info:" in stdout and "outputs['log_likelihood'] tensor_info:" in stdout
    )
    assert "num_samples" not in stdout
    returncode, _, stderr = _finish(export["started"]["run"], timeout=120)
    assert returncode == 0, stderr[-2000:]
    # model.sample(n, seed=s) is the sample signature with seed = s + arange(n)
    np.testing.assert_allclose(
        np.load(export["work"] / "x.npy"), export["model"].sample(2, seed=1).numpy(), atol=1e-5
    )


def test_wrong_inputs_fail_with_tensorflow_errors_naming_the_input(exported):
    model, _, path = exported
    loaded = tf.saved_model.load(path)
    encode, encode_sample = loaded.signatures["encode"], loaded.signatures["encode_sample"]
    seed = tf.constant([1, 2], tf.int64)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"Shape of tensor x \[2,784\] is not compatible with expected shape \[\?,28,28,1\]",
    ):
        encode(x=tf.zeros((2, 784)))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"Shape of tensor seed \[2,1\] is not compatible with expected shape \[\?\]",
    ):
        encode_sample(x=tf.zeros((2, 28, 28, 1)), seed=tf.zeros((2, 1), tf.int64))
    # dtype: TensorFlow's own check, naming the input by position (inputs sorted by name: seed, x)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"input #0\(zero-based\) was expected to be a int64 tensor but is a float",
    ):
        encode_sample(x=tf.zeros((2, 28, 28, 1)), seed=tf.constant([1.0, 2.0]))
    # inputs that disagree on the batch: both named
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?=.*\bx\b)(?=.*\bseed\b)"):
        encode_sample(x=tf.zeros((3, 28, 28, 1)), seed=seed)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?=.*\bseed\b)(?=.*\btemperature\b)"):
        loaded.signatures["sample"](seed=seed, temperature=tf.ones([3]))
    # a request whose every row is invalid fails, naming the rule; see test_tf_serving_batcher.py for mixed
    # batches
    message = r"every row of the request is invalid; row 0: x: BernoulliLikelihood needs values in \[0, 1\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        encode(x=tf.fill((1, 28, 28, 1), 3.0))


def _metadata_answer(path):
    """The GetModelMetadata answer TF Serving would give for this SavedModel, as the gRPC client parses it."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    from serving import client

    saved_model = saved_model_pb2.SavedModel.FromString(
        open(os.path.join(path, "saved_model.pb"), "rb").read()
    )
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in saved_model.meta_graphs[0].signature_def.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = "vae"
    response.metadata["signature_def"].Pack(signature_map)
    return client.parse_metadata_response(response)


def test_client_requests_match_the_exported_signatures(exported):
    """serving/client builds, from the model's metadata, requests whose input names, dtypes and shapes are the
    SavedModel's."""
    from serving import client

    model, _, path = exported
    loaded = tf.saved_model.load(path)
    specs = client.signature_specs(_metadata_answer(path))
    assert set(specs) == set(sm.SIGNATURES)
    for name, inputs in example_inputs(model, batch_size=2).items():
        request = client.grpc_predict_request(inputs, name, specs)
        signature = loaded.signatures[name]
        expected = signature.structured_input_signature[1]
        assert set(request.inputs) == set(expected), name
        for key, spec in expected.items():
            assert tf.dtypes.as_dtype(request.inputs[key].dtype) == spec.dtype, (name, key)
            assert spec.shape.is_compatible_with(tf.make_ndarray(request.inputs[key]).shape), (name, key)
        outputs = signature(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
        assert all(v.shape[0] == 2 for v in outputs.values()), name
        body = client.rest_request(inputs, name, specs, format="row")  # every input is batched
        assert len(body["instances"]) == 2 and set(body["instances"][0]) == set(expected), name
