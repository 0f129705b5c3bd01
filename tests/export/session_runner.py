"""The exports run as TF Serving's C++ model server runs them (``from session_runner import ...``).

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
warmup records (SESSION_RUNNER; the ``runs`` fixture of this folder's
conftest.py starts it). test_tf_serving_session*.py check its results.
"""

import numpy as np
from export_testing import BLOCKED_PREAMBLE

LL_SAMPLES = 10  # K of the exported log_likelihood (small: the warmup runs it at the largest batch)

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


def case_outputs(run, signature, case):
    """The outputs of ``signature`` in one case of the session runner (``full``, ``row0``, ...), by name."""
    prefix = f"{signature}|{case}|"
    return {k[len(prefix) :]: v for k, v in run["outputs"].items() if k.startswith(prefix)}


def assert_no_errors(run, signature, *cases):
    """None of ``cases`` of ``signature`` failed in the session runner."""
    for case in cases:
        error = run["report"]["errors"].get(f"{signature}|{case}")
        assert error is None, f"{signature} ({case}) failed in the TF Serving-style session: {error}"


def assert_same(a, b, what, atol=1e-5):
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    if a.dtype == object or a.dtype.kind in "SU":
        assert a.tolist() == b.tolist(), f"{what}: {a.tolist()} != {b.tolist()}"
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=atol, err_msg=what)
