"""The ``runs`` fixture: every kind exported once and run in TF Serving-style sessions (session_runner.py).

Session-scoped, so the test modules that read its results share one export and one run per kind.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from export_testing import KINDS, build_model as _build, signature_inputs as _inputs
from session_runner import LL_SAMPLES, SESSION_RUNNER

from vae_zoo.export import saved_model as sm

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="session")
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
