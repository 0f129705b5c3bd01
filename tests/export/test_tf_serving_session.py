"""The exports as TF Serving's C++ model server runs them, and what its batcher assumes.

`tensorflow_model_server` loads a version with the TF1 SavedModel loader
(`LoadSavedModel` with tag "serve") and answers a request with one
`Session::Run`, feeding and fetching the tensor names of the SignatureDef.
With `--enable_batching` every signature's requests go through its batcher,
which needs every input batch-major (dimension 0 = the request's rows; it
refuses scalars and inputs that disagree on dimension 0), concatenates
concurrent requests along dimension 0 (padding the batch with copies of the
last request's first row up to an allowed batch size), runs them as one
`Session::Run` and splits every output along dimension 0.

So, for a dense export, a full-covariance conv export and a sentence export,
one subprocess per export (`vae_zoo` and `tensorflow_probability` blocked)
loads the SavedModel into two fresh sessions that way and runs every
signature: the same three rows together, apart ([0] and [1, 2]) and padded,
twice, in both sessions, with other seeds, with zero rows, and the export's
warmup records. The tests below check its results. In this process: the
Python methods against the signatures for the same seeds, and a mismatched
batch.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo.export import saved_model as sm
from export_testing import BLOCKED_PREAMBLE, KINDS, build_model as _build, signature_inputs as _inputs
from vae_zoo.export import warmup

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
LL_SAMPLES = 10  # K of the exported log_likelihood (small: the warmup runs it at the largest batch)

#: Outputs of each signature (the contract in /vae_zoo/models/signatures.py).
IMAGE_OUTPUTS = {
    "encode": {"mean", "stddev"},
    "decode": {"logits", "probs", "mean"},
    "reconstruct": {"reconstruction"},
    "serving_default": {"reconstruction"},
    "encode_sample": {"z"},
    "decode_sample": {"x"},
    "sample": {"x", "z"},
    "log_likelihood": {"log_likelihood"},
}
SENTENCE_OUTPUTS = {
    "encode": {"mean", "stddev"},
    "decode": {"sentences"},
    "reconstruct": {"sentences"},
    "serving_default": {"sentences"},
    "encode_sample": {"z"},
    "decode_sample": {"sentences"},
    "sample": {"sentences", "z"},
    "log_likelihood": {"log_likelihood"},
}

# Runs in a fresh interpreter in which `import vae_zoo` and `import tensorflow_probability` fail.
SESSION_RUNNER = (
    BLOCKED_PREAMBLE
    + r"""
import traceback

tf1 = tf.compat.v1
path, inputs_file, out_file = sys.argv[1:4]
inputs = {}
for key, value in np.load(inputs_file, allow_pickle=False).items():
    signature, name = key.split("__")
    if value.dtype.kind == "U":
        value = np.array([s.encode("utf-8") for s in value.tolist()], dtype=object)
    inputs.setdefault(signature, {})[name] = value


def load():
    # What TF Serving's LoadSavedModel does: a fresh graph and session, tag "serve".
    graph = tf.Graph()
    session = tf1.Session(graph=graph)
    with graph.as_default():
        meta_graph = tf1.saved_model.loader.load(session, ["serve"], path)
    return session, meta_graph


def run(session, signature_def, feeds):
    # One Session::Run on the SignatureDef's tensor names.
    feed_dict = {signature_def.inputs[key].name: value for key, value in feeds.items()}
    fetches = {key: info.name for key, info in signature_def.outputs.items()}
    return session.run(fetches, feed_dict=feed_dict)


def rows(feeds, start, stop):
    return {k: v[start:stop] for k, v in feeds.items()}


def padded(feeds, tasks, size):
    # TF Serving's batch: the tasks concatenated, then copies of the last task's first row up to `size`.
    parts = {k: [v[a:b] for a, b in tasks] for k, v in feeds.items()}
    last = tasks[-1][0]
    return {
        k: np.concatenate(p + [feeds[k][last : last + 1]] * (size - sum(b - a for a, b in tasks)), axis=0)
        for k, p in parts.items()
    }


def other_seed(feeds):
    return {k: (v + 1000 if k == "seed" else v) for k, v in feeds.items()}


outputs, errors = {}, {}
first, meta_graph = load()
second, _ = load()
signatures = {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}
report = {"signatures": {}, "errors": errors}
for name, signature_def in sorted(signatures.items()):
    report["signatures"][name] = {
        "inputs": {
            key: {
                "dtype": tf.dtypes.as_dtype(info.dtype).name,
                "unknown_rank": info.tensor_shape.unknown_rank,
                "dims": [d.size for d in info.tensor_shape.dim],
            }
            for key, info in signature_def.inputs.items()
        },
        "outputs": {
            key: [d.size for d in info.tensor_shape.dim] if not info.tensor_shape.unknown_rank else None
            for key, info in signature_def.outputs.items()
        },
    }
    if name not in inputs:
        errors[f"{name}|inputs"] = "no inputs were given for this signature"
        continue
    feeds = inputs[name]
    cases = {
        "full": (first, feeds),
        "again": (first, feeds),
        "second_session": (second, feeds),
        "row0": (first, rows(feeds, 0, 1)),
        "rows12": (first, rows(feeds, 1, 3)),
        "padded": (first, padded(feeds, [(0, 1), (1, 3)], 4)),
        "empty": (first, rows(feeds, 0, 0)),
    }
    if "seed" in feeds:
        cases["other_seed"] = (first, other_seed(feeds))
    for case, (session, case_feeds) in cases.items():
        try:
            for key, value in run(session, signature_def, case_feeds).items():
                outputs[f"{name}|{case}|{key}"] = value
        except Exception as err:  # recorded; the tests report it
            errors[f"{name}|{case}"] = f"{type(err).__name__}: {err}"[-2000:]

warmups = []
for record in tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests"):
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    name = request.model_spec.signature_name
    feeds = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    entry = {"signature": name, "inputs": {k: [list(v.shape), v.dtype.name] for k, v in feeds.items()}}
    try:
        result = run(first, signatures[name], feeds)
        entry["outputs"] = {k: list(np.shape(v)) for k, v in result.items()}
    except Exception as err:
        entry["error"] = f"{type(err).__name__}: {err}"[-2000:]
    warmups.append(entry)
report["warmups"] = warmups
report["modules"] = sorted(m for m in sys.modules if m.startswith(("vae_zoo", "tensorflow_probability")))
np.savez(out_file, **{k: np.asarray(v) for k, v in outputs.items()})
print(json.dumps(report))
"""
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each kind exported once, and its session runner started while the next one exports."""
    started = {}
    for kind in KINDS:
        model = _build(kind)
        base = tmp_path_factory.mktemp(kind)
        path = sm.export_saved_model(model, str(base), log_likelihood_samples=LL_SAMPLES)
        inputs = _inputs(model, kind)
        np.savez(
            base / "in.npz", **{f"{sig}__{k}": v for sig, args in inputs.items() for k, v in args.items()}
        )
        with open(base / "stdout", "w") as stdout, open(base / "stderr", "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-c", SESSION_RUNNER, path, str(base / "in.npz"), str(base / "out.npz")],
                env=ENV,
                stdout=stdout,
                stderr=stderr,
                text=True,
            )
        started[kind] = (model, path, inputs, base, process)
    results = {}
    for kind, (model, path, inputs, base, process) in started.items():
        process.wait(timeout=300)
        assert process.returncode == 0, f"{kind}: {(base / 'stderr').read_text()[-3000:]}"
        report = json.loads((base / "stdout").read_text().strip().splitlines()[-1])
        outputs = dict(np.load(base / "out.npz", allow_pickle=True))
        results[kind] = {"model": model, "path": path, "inputs": inputs, "report": report, "outputs": outputs}
    return results


def _outputs(run, signature, case):
    prefix = f"{signature}|{case}|"
    return {k[len(prefix) :]: v for k, v in run["outputs"].items() if k.startswith(prefix)}


def _no_errors(run, signature, *cases):
    for case in cases:
        error = run["report"]["errors"].get(f"{signature}|{case}")
        assert error is None, f"{signature} ({case}) failed in the TF Serving-style session: {error}"


def _assert_same(a, b, what, atol=1e-5):
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    if a.dtype == object or a.dtype.kind in "SU":
        assert a.tolist() == b.tolist(), f"{what}: {a.tolist()} != {b.tolist()}"
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=atol, err_msg=what)


@pytest.mark.parametrize("kind", KINDS)
def test_runs_without_vae_zoo_and_has_every_signature(runs, kind):
    report = runs[kind]["report"]
    assert report["modules"] == []
    assert set(report["signatures"]) == set(sm.SIGNATURES)


@pytest.mark.parametrize("kind", KINDS)
def test_every_input_is_batch_major(runs, kind):
    """TF Serving's batcher refuses scalar inputs and splits on dimension 0: every input is [-1, ...]."""
    for name, signature in runs[kind]["report"]["signatures"].items():
        for key, info in signature["inputs"].items():
            assert not info["unknown_rank"] and info["dims"], f"{name}/{key} has no dimension 0: {info}"
            assert info["dims"][0] == -1, f"{name}/{key}: dimension 0 is {info['dims'][0]}, not -1 (batch)"
        for key, dims in signature["outputs"].items():
            assert dims is None or (dims and dims[0] == -1), f"{name}/{key} output dims {dims}"


@pytest.mark.parametrize("kind", KINDS)
def test_signature_inputs_and_outputs(runs, kind):
    signatures = runs[kind]["report"]["signatures"]
    data = "sentences" if kind == "sentences" else "x"
    inputs = {name: set(s["inputs"]) for name, s in signatures.items()}
    for name in ("encode", "reconstruct", "serving_default"):
        assert inputs[name] == {data}, (
            f"{name} takes {sorted(inputs[name])}, not the data input {data!r} alone"
        )
    assert inputs["decode"] == {"z"}
    assert inputs["encode_sample"] == {data, "seed"}
    assert inputs["decode_sample"] == ({"z", "seed", "temperature"} if kind == "sentences" else {"z", "seed"})
    assert inputs["sample"] == {"seed", "temperature"}
    assert inputs["log_likelihood"] == {data, "seed"}
    dtypes = {key: info["dtype"] for s in signatures.values() for key, info in s["inputs"].items()}
    assert dtypes == {
        data: "string" if kind == "sentences" else "float32",
        "z": "float32",
        "seed": "int64",
        "temperature": "float32",
    }
    expected = SENTENCE_OUTPUTS if kind == "sentences" else IMAGE_OUTPUTS
    for name, outputs in expected.items():
        outputs = outputs | {"error"}  # every signature reports each row's validity (row_isolation.py)
        if kind == "conv_full" and name == "encode":
            outputs = outputs | {"scale_tril"}
        assert set(signatures[name]["outputs"]) == outputs, name


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_have_the_request_rows(runs, kind):
    """The batcher splits every output along dimension 0, so each has the request's B rows."""
    run = runs[kind]
    model = run["model"]
    for name in sm.SIGNATURES:
        _no_errors(run, name, "full", "row0", "rows12")
        for case, rows in (("full", 3), ("row0", 1), ("rows12", 2)):
            outputs = _outputs(run, name, case)
            assert outputs, f"{name} ({case}) gave no outputs"
            for key, value in outputs.items():
                assert value.ndim >= 1 and value.shape[0] == rows, (
                    f"{name}/{key} ({case}): shape {value.shape}, want {rows} rows"
                )
        full = _outputs(run, name, "full")
        for key in ("mean", "stddev", "z") if name in ("encode", "encode_sample", "sample") else ():
            if key in full:
                assert full[key].shape == (3, model.latent_dim), (name, key)
        if "scale_tril" in full:
            assert full["scale_tril"].shape == (3, model.latent_dim, model.latent_dim)
        for key in ("reconstruction", "x", "logits", "probs"):
            if key in full:
                assert full[key].shape == (3, *model.data_shape), (name, key)
        if "log_likelihood" in full:
            assert full["log_likelihood"].shape == (3,) and np.all(np.isfinite(full["log_likelihood"]))
        if "sentences" in full:
            assert full["sentences"].dtype == object and all(isinstance(s, bytes) for s in full["sentences"])


@pytest.mark.parametrize("kind", KINDS)
def test_zero_rows_give_empty_outputs(runs, kind):
    run = runs[kind]
    failed = {
        name: run["report"]["errors"][f"{name}|empty"].splitlines()[-2:]
        for name in sm.SIGNATURES
        if f"{name}|empty" in run["report"]["errors"]
    }
    assert not failed, f"B = 0 failed for {sorted(failed)}: {failed}"
    for name in sm.SIGNATURES:
        full, empty = _outputs(run, name, "full"), _outputs(run, name, "empty")
        assert set(empty) == set(full), name
        for key, value in empty.items():
            assert value.shape == (0, *full[key].shape[1:]), f"{name}/{key}: shape {value.shape} for B = 0"


@pytest.mark.parametrize("kind", KINDS)
def test_rows_together_equal_rows_apart(runs, kind):
    """What the batcher does: rows [0, 1, 2] in one run equal [0] and [1, 2] run apart, and padding changes nothing."""
    run = runs[kind]
    for name in sm.SIGNATURES:
        _no_errors(run, name, "full", "row0", "rows12", "padded")
        full, row0, rows12 = (_outputs(run, name, c) for c in ("full", "row0", "rows12"))
        padded = _outputs(run, name, "padded")
        for key, value in full.items():
            _assert_same(
                value, np.concatenate([row0[key], rows12[key]]), f"{name}/{key}: [0, 1, 2] vs [0] + [1, 2]"
            )
            assert padded[key].shape[0] == 4
            _assert_same(padded[key][:3], value, f"{name}/{key}: padded to 4 rows vs [0, 1, 2]")


@pytest.mark.parametrize("kind", KINDS)
def test_same_request_same_outputs_across_runs_and_loads(runs, kind):
    run = runs[kind]
    for name in sm.SIGNATURES:
        _no_errors(run, name, "full", "again", "second_session")
        full = _outputs(run, name, "full")
        for case in ("again", "second_session"):
            other = _outputs(run, name, case)
            assert set(other) == set(full)
            for key, value in full.items():
                _assert_same(other[key], value, f"{name}/{key} ({case})", atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_other_seeds_give_other_draws(runs, kind):
    run = runs[kind]
    random = [name for name, s in run["report"]["signatures"].items() if "seed" in s["inputs"]]
    assert sorted(random) == ["decode_sample", "encode_sample", "log_likelihood", "sample"]
    for name in random:
        _no_errors(run, name, "full", "other_seed")
        full, other = _outputs(run, name, "full"), _outputs(run, name, "other_seed")
        assert full.pop("error").tolist() == other.pop("error").tolist() == [b""] * 3  # every row valid
        for key, value in full.items():
            if value.dtype == object:
                assert value.tolist() != other[key].tolist(), (
                    f"{name}/{key}: seed + 1000 gave the same sentences"
                )
            elif kind == "dense" and name == "decode_sample":  # Bernoulli pixels: some agree by chance
                assert np.mean(value != other[key]) > 0.1, (
                    f"{name}/{key}: seed + 1000 gave nearly the same draw"
                )
            else:
                for row in range(3):
                    assert not np.allclose(value[row], other[key][row]), (
                        f"{name}/{key} row {row}: seed + 1000 gave the same draw"
                    )


@pytest.mark.parametrize("kind", KINDS)
def test_warmup_records_replay(runs, kind):
    """Every signature at batch 1 and at the largest allowed batch size of serving/batching.config."""
    warmups = runs[kind]["report"]["warmups"]
    sizes = warmup.warmup_batch_sizes()
    assert sizes == (1, warmup.largest_allowed_batch_size()) and sizes[-1] > 1
    seen = set()
    for entry in warmups:
        assert "error" not in entry, f"warmup {entry['signature']} {entry['inputs']}: {entry['error']}"
        rows = {shape[0] for shape, _ in entry["inputs"].values()}
        assert len(rows) == 1, entry
        (b,) = rows
        assert all(shape[0] == b for shape in entry["outputs"].values()), entry
        seen.add((entry["signature"], b))
    assert seen == {(name, b) for name in sm.SIGNATURES for b in sizes}
    assert len(warmups) == len(seen)
    meta = json.load(open(os.path.join(runs[kind]["path"], "assets.extra", sm.METADATA_FILE)))
    assert meta["log_likelihood_samples"] == LL_SAMPLES


# ---------------------------------------------------------------------------
# In this process: the Python methods against the loaded signatures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(runs):
    return {kind: tf.saved_model.load(run["path"]) for kind, run in runs.items()}


@pytest.mark.parametrize("kind", ["dense", "conv_full"])
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
