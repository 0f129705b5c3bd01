"""The exports' signatures as TF Serving's session runs them (session_runner.py): loaded without vae_zoo,
every signature present, every input batch-major, the inputs and outputs of the contract, outputs with the
request's rows (none for zero rows), and the warmup records replayed at their batch sizes.
"""

import json
import os

import numpy as np
import pytest
from export_testing import KINDS
from session_runner import LL_SAMPLES, assert_no_errors, case_outputs

from vae_zoo.export import saved_model as sm
from vae_zoo.export import warmup

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
        assert_no_errors(run, name, "full", "row0", "rows12")
        for case, rows in (("full", 3), ("row0", 1), ("rows12", 2)):
            outputs = case_outputs(run, name, case)
            assert outputs, f"{name} ({case}) gave no outputs"
            for key, value in outputs.items():
                assert value.ndim >= 1 and value.shape[0] == rows, (
                    f"{name}/{key} ({case}): shape {value.shape}, want {rows} rows"
                )
        full = case_outputs(run, name, "full")
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
        full, empty = case_outputs(run, name, "full"), case_outputs(run, name, "empty")
        assert set(empty) == set(full), name
        for key, value in empty.items():
            assert value.shape == (0, *full[key].shape[1:]), f"{name}/{key}: shape {value.shape} for B = 0"


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
