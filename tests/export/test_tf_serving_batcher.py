"""One bad request never fails its batch-mates, through TF Serving's batcher.

`session_batcher.py` reproduces what `tensorflow_model_server --enable_batching` does with
concurrent requests (concatenate, pad to an allowed batch size with the first row of the last
task, one `Session::Run`, split). A subprocess in which vae_zoo and TFP cannot be imported loads
each export (dense, full-covariance conv, sentences) with the TF1 SavedModel loader and runs every
signature on batches of tasks: good requests alone; good requests with a bad one (0..255 pixels,
NaN, a non-finite `z`, a negative `temperature`) before, between and last (so the padding copies a
bad row); zero-row tasks among non-empty ones and last; a batch of only zero-row tasks; a batch of
only bad rows. The allowed batch sizes are those of the shipped `serving/batching.config`.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from export_testing import BLOCKED_PREAMBLE, KINDS, build_model, signature_inputs

from vae_zoo.export import saved_model as sm
from vae_zoo.serving.config_protos import load_batching_parameters

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
HERE = os.path.dirname(os.path.abspath(__file__))

RUNNER = (
    BLOCKED_PREAMBLE
    + r"""
path, cases_file, out_file, helpers, allowed = sys.argv[1:6]
sys.path.insert(0, helpers)
from session_batcher import run_batched  # noqa: E402

tf1 = tf.compat.v1
graph = tf.Graph()
session = tf1.Session(graph=graph)
with graph.as_default():
    meta_graph = tf1.saved_model.loader.load(session, ["serve"], path)
cases = {}
for key, value in np.load(cases_file, allow_pickle=False).items():
    signature, scenario, task, name = key.split("__")
    if value.dtype.kind == "U":
        value = np.array([s.encode("utf-8") for s in value.tolist()], dtype=object).reshape(value.shape)
    tasks = cases.setdefault((signature, scenario), {})
    tasks.setdefault(int(task), {})[name] = value


def runner(signature_def):
    def run(feeds):
        feed_dict = {signature_def.inputs[key].name: value for key, value in feeds.items()}
        fetches = {key: info.name for key, info in signature_def.outputs.items()}
        return session.run(fetches, feed_dict=feed_dict)

    return run


outputs, errors = {}, {}
for (signature, scenario), tasks in sorted(cases.items()):
    tasks = [tasks[i] for i in sorted(tasks)]
    try:
        results = run_batched(runner(meta_graph.signature_def[signature]), tasks, json.loads(allowed))
    except Exception as err:  # the one status every task of the batch gets
        errors[f"{signature}|{scenario}"] = f"{type(err).__name__}: {err}"[:3000]
        continue
    for index, result in enumerate(results):
        for key, value in result.items():
            outputs[f"{signature}|{scenario}|{index}|{key}"] = value
np.savez(out_file, **outputs)
modules = sorted(m for m in sys.modules if m.startswith(("vae_zoo", "tensorflow_p")))
print(json.dumps({"errors": errors, "modules": modules}))
"""
)


def _rows(feeds, start, stop):
    return {name: value[start:stop] for name, value in feeds.items()}


def _bad(kind, signature, feeds):
    """A bad request of 2 rows for `signature` (None where no input can be invalid: sentence strings)."""
    bad = {name: value[:2].copy() for name, value in feeds.items()}
    if "x" in bad:
        bad["x"][0] *= 255.0  # the most common mistake: 0..255 pixels
        bad["x"][1].flat[0] = np.nan
    elif "z" in bad:
        bad["z"][0, 0], bad["z"][1, -1] = np.nan, np.inf
    elif "temperature" in bad:
        bad["temperature"][:] = [-1.0, np.nan]
    else:
        return None
    if kind == "sentences" and "temperature" in bad and "z" in bad:
        bad["z"][1] = feeds["z"][1]
        bad["temperature"][1] = -0.5
    return bad


def _scenarios(kind, signature, feeds):
    """`{scenario: [task, ...]}`: good = rows 0-1, good2 = row 2, empty = zero rows."""
    good, good2, empty = _rows(feeds, 0, 2), _rows(feeds, 2, 3), _rows(feeds, 0, 0)
    scenarios = {
        "alone": [good],
        "alone2": [good2],
        "zero_among": [good, empty, good2],  # 3 rows: padded to 4 with good2's row
        "zero_last": [good, good2, empty],  # the padding comes from the last task that has a row
        "only_zero": [empty, empty],
    }
    bad = _bad(kind, signature, feeds)
    if bad is not None:
        scenarios["bad_first"] = [bad, good]
        scenarios["bad_between"] = [good, bad, good2]  # 5 rows: padded to 8 with good2's row
        scenarios["bad_last"] = [good, _rows(bad, 0, 1)]  # 3 rows: padded to 4 with copies of the bad row
        scenarios["only_bad"] = [bad]
    return scenarios


#: For each scenario with good tasks: (task index, the scenario whose task 0 it must equal).
GOOD_TASKS = {
    "zero_among": [(0, "alone"), (2, "alone2")],
    "zero_last": [(0, "alone"), (1, "alone2")],
    "bad_first": [(1, "alone")],
    "bad_between": [(0, "alone"), (2, "alone2")],
    "bad_last": [(0, "alone")],
}
BAD_TASKS = {"bad_first": 0, "bad_between": 1, "bad_last": 1}


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    allowed = list(load_batching_parameters().allowed_batch_sizes)
    started = {}
    for kind in KINDS:
        model = build_model(kind)
        base = tmp_path_factory.mktemp(f"batcher-{kind}")
        path = sm.export_saved_model(model, str(base), log_likelihood_samples=10, warmup=False)
        feeds = signature_inputs(model, kind)
        scenarios = {name: _scenarios(kind, name, inputs) for name, inputs in feeds.items()}
        arrays = {
            f"{name}__{scenario}__{index}__{key}": value
            for name, cases in scenarios.items()
            for scenario, tasks in cases.items()
            for index, task in enumerate(tasks)
            for key, value in task.items()
        }
        np.savez(base / "cases.npz", **arrays)
        command = [
            sys.executable,
            "-c",
            RUNNER,
            path,
            str(base / "cases.npz"),
            str(base / "out.npz"),
            HERE,
            json.dumps(allowed),
        ]
        process = subprocess.Popen(
            command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started[kind] = (base, scenarios, process)
    results = {}
    for kind, (base, scenarios, process) in started.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{kind}: {stderr[-3000:]}"
        report = json.loads(stdout.strip().splitlines()[-1])
        assert report["modules"] == [], report["modules"]
        results[kind] = {
            "scenarios": scenarios,
            "errors": report["errors"],
            "outputs": dict(np.load(base / "out.npz", allow_pickle=True)),
        }
    return results


def _task(result, signature, scenario, index):
    prefix = f"{signature}|{scenario}|{index}|"
    return {key[len(prefix) :]: value for key, value in result["outputs"].items() if key.startswith(prefix)}


def _assert_same(got, expected, what):
    assert set(got) == set(expected), what
    for key, value in expected.items():
        assert got[key].shape == value.shape, f"{what}/{key}"
        if value.dtype == object:
            assert got[key].tolist() == value.tolist(), f"{what}/{key}"
        else:
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=f"{what}/{key}")


@pytest.mark.parametrize("kind", KINDS)
def test_good_requests_are_unchanged_by_bad_and_empty_batch_mates(batched, kind):
    result = batched[kind]
    for signature, scenarios in result["scenarios"].items():
        for scenario in scenarios:
            if scenario != "only_bad":
                assert f"{signature}|{scenario}" not in result["errors"], result["errors"][
                    f"{signature}|{scenario}"
                ]
        for scenario, pairs in GOOD_TASKS.items():
            for index, reference in pairs if scenario in scenarios else ():
                alone = _task(result, signature, reference, 0)
                assert alone["error"].tolist() == [b""] * len(alone["error"])
                _assert_same(
                    _task(result, signature, scenario, index),
                    alone,
                    f"{kind} {signature} {scenario} task {index}",
                )


@pytest.mark.parametrize("kind", KINDS)
def test_bad_rows_are_reported_and_masked(batched, kind):
    result = batched[kind]
    tested = []
    for signature, scenarios in result["scenarios"].items():
        if "only_bad" not in scenarios:
            assert kind == "sentences" and signature in (
                "encode",
                "reconstruct",
                "serving_default",
                "encode_sample",
                "log_likelihood",
            )
            continue
        tested.append(signature)
        for scenario, index in BAD_TASKS.items():
            outputs = _task(result, signature, scenario, index)
            errors = [e.decode() for e in outputs.pop("error")]
            assert errors and all(e.startswith(("x: ", "z: ", "temperature: ")) for e in errors), (
                signature,
                errors,
            )
            for key, value in outputs.items():
                if value.dtype.kind == "f":
                    assert np.isnan(value).all(), (
                        f"{kind} {signature}/{key}: a refused row's output is not NaN"
                    )
        if "x" in scenarios["only_bad"][0]:
            first = [e.decode() for e in _task(result, signature, "bad_first", 0)["error"]]
            assert "needs values in [0, 1] (scale images by 1/255); this row has values in [" in first[0], (
                first
            )
            assert first[1] == "x: values must be finite; this row has NaN or Inf", first
    expected = {"decode", "decode_sample", "sample"} if kind == "sentences" else set(sm.SIGNATURES)
    assert set(tested) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_of_only_bad_rows_fails_naming_the_rule(batched, kind):
    result = batched[kind]
    for signature, scenarios in result["scenarios"].items():
        if "only_bad" in scenarios:
            error = result["errors"].get(f"{signature}|only_bad", "")
            assert (
                "InvalidArgumentError" in error and "every row of the request is invalid; row 0: " in error
            ), (signature, error)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_row_tasks(batched, kind):
    result = batched[kind]
    for signature in result["scenarios"]:
        alone = _task(result, signature, "alone", 0)
        for scenario, index in (("zero_among", 1), ("zero_last", 2), ("only_zero", 0), ("only_zero", 1)):
            empty = _task(result, signature, scenario, index)
            assert set(empty) == set(alone), (signature, scenario)
            for key, value in empty.items():
                assert value.shape == (0, *alone[key].shape[1:]), (signature, scenario, key, value.shape)
