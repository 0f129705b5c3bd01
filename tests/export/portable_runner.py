"""ONNX and OpenVINO exports run as a serving host runs them (``from portable_runner import ...``).

`export_and_run(fmt, exports, tmp)` writes each model's export with
`model.export(directory, format=fmt, signatures=...)`, its inputs at B = 0, 1 and
5 and the eager outputs of the same contract functions, then runs every
signature in one subprocess (RUNNER) in which `vae_zoo`, `tensorflow_probability`,
`tensorflow` and `keras` cannot be imported: ONNX Runtime or OpenVINO's CPU
plugin alone, reading only the export directory and its manifest.
"""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

BATCHES = (0, 1, 5)
ATOL = 1e-5
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

RUNNER = r"""
import importlib.abc, json, sys
import numpy as np

BLOCKED = ("vae_zoo", "tensorflow_probability", "tensorflow", "keras")

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this process")
        return None

sys.meta_path.insert(0, Blocker())
for name in BLOCKED:
    try:
        __import__(name)
        raise SystemExit(f"the blocker did not block {name}")
    except ImportError:
        pass

fmt, jobs = sys.argv[1], json.loads(sys.argv[2])
if fmt == "onnx":
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # tiny graphs; CI has two cores

    def load(directory, name):
        session = onnxruntime.InferenceSession(
            f"{directory}/{name}.onnx", options, providers=["CPUExecutionProvider"]
        )
        names = [o.name for o in session.get_outputs()]
        return lambda feeds: dict(zip(names, session.run(names, feeds)))
else:
    import openvino

    core = openvino.Core()
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": 1})  # tiny graphs; CI has two cores

    def load(directory, name):
        # the manifest's config (float32 arithmetic), as the export tells a serving host to compile
        config = json.load(open(f"{directory}/vae_zoo_manifest.json"))["compile_config"]
        compiled = core.compile_model(f"{directory}/{name}.xml", "CPU", config)
        def run(feeds):
            return {n: value for port, value in compiled(feeds).items() for n in port.get_names()}
        return run

report = {"errors": {}}
for directory, inputs_file, out_file in jobs:
    manifest = json.load(open(f"{directory}/vae_zoo_manifest.json"))
    inputs = dict(np.load(inputs_file))
    outputs = {}
    for name, entry in manifest["signatures"].items():
        run = load(directory, name)
        for batch in (0, 1, 5):
            feeds = {key: inputs[f"{name}__{batch}__{key}"] for key in entry["inputs"]}
            try:
                result = run(feeds)
                for key in entry["outputs"]:
                    outputs[f"{name}__{batch}__{key}"] = result[key]
            except Exception as err:
                report["errors"][f"{directory}|{name}|{batch}"] = f"{type(err).__name__}: {err}"[-1000:]
    np.savez(out_file, **outputs)
report["modules"] = sorted(
    m for m in sys.modules if m.split(".")[0] in ("vae_zoo", "tensorflow_probability", "tensorflow", "keras")
)
print(json.dumps(report))
"""


def token_model():
    """A token-id SequenceVAE (no vocabulary): int32 ids in, no string ops."""
    import vae_zoo

    return vae_zoo.models.SequenceVAE(
        vocab_size=20, max_length=6, embedding_dim=8, hidden_units=8, latent_dim=3, seed=0
    )


def signature_inputs(model, name, rng):
    """Five rows of each input of signature `name`, by input name."""
    _, specs = model.serving_signatures()[name]
    inputs = {}
    for spec in specs:
        shape = [5, *spec.shape[1:]]
        if spec.dtype == tf.int32:  # token ids
            inputs[spec.name] = rng.integers(0, model.vocab_size, size=shape).astype("int32")
        elif spec.name == "z":
            inputs[spec.name] = rng.standard_normal(shape).astype("float32")
        else:
            inputs[spec.name] = rng.random(shape, dtype="float32")
    return inputs


def eager(model, name, inputs):
    """The contract function of signature `name` called eagerly (the reference of every format)."""
    function, specs = model.serving_signatures()[name]
    return {k: v.numpy() for k, v in function(*(tf.constant(inputs[s.name]) for s in specs)).items()}


def export_and_run(fmt, exports, tmp):
    """`{kind: {"model", "path", "eager", "outputs"}}` and the runner's report, for `exports`
    `{kind: (model, signatures)}` exported with `model.export(..., format=fmt)`."""
    rng = np.random.default_rng(0)
    jobs, results = [], {}
    for kind, (model, signatures) in exports.items():
        path = model.export(str(tmp / kind), format=fmt, signatures=signatures)
        feeds, expected = {}, {}
        for name in signatures:
            rows = signature_inputs(model, name, rng)
            for batch in (1, 5):
                part = {k: v[:batch] for k, v in rows.items()}
                feeds.update({f"{name}__{batch}__{k}": v for k, v in part.items()})
                expected.update({f"{name}__{batch}__{k}": v for k, v in eager(model, name, part).items()})
            # B = 0: the empty inputs; eager's outputs have B = 1's shapes with 0 rows
            feeds.update({f"{name}__0__{k}": v[:0] for k, v in rows.items()})
            expected.update(
                {
                    key.replace("__1__", "__0__"): value[:0]
                    for key, value in list(expected.items())
                    if key.startswith(f"{name}__1__")
                }
            )
        np.savez(tmp / f"{kind}_in.npz", **feeds)
        jobs.append([path, str(tmp / f"{kind}_in.npz"), str(tmp / f"{kind}_out.npz")])
        results[kind] = {"model": model, "path": path, "eager": expected}
    process = subprocess.run(
        [sys.executable, "-c", RUNNER, fmt, json.dumps(jobs)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    report = json.loads(process.stdout.strip().splitlines()[-1])
    for kind, (_, _, out_file) in zip(results, jobs):
        results[kind]["outputs"] = dict(np.load(out_file))
    return results, report


def assert_parity(result, report, fmt, batches=BATCHES):
    """Every eager output of `result` equals the runtime's within ATOL, at every batch size in `batches`;
    returns the largest absolute difference by batch size."""
    worst = {}
    for key, want in result["eager"].items():
        name, batch, output = key.split("__")
        if int(batch) not in batches:
            continue
        error = report["errors"].get(f"{result['path']}|{name}|{batch}")
        assert error is None, f"{fmt} {name} at B = {batch} failed: {error}"
        assert key in result["outputs"], f"{fmt} {name} at B = {batch} has no output {output!r}"
        got = result["outputs"][key]
        assert got.shape == want.shape, f"{fmt} {key}: shape {got.shape} != eager {want.shape}"
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=f"{fmt} {key}")
        diff = float(np.max(np.abs(got - want))) if want.size else 0.0
        worst[int(batch)] = max(worst.get(int(batch), 0.0), diff)
    assert set(worst) == set(batches), f"{fmt}: batch sizes checked {sorted(worst)}, expected {batches}"
    return worst
