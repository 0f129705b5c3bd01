"""Tests for the serving.client command line and package hygiene.

Offline: the CLI runs over a stubbed ``urllib.request.urlopen``; the package
is run as a script and imported in a fresh interpreter; the docstring
examples of every module of the package run as doctests.
"""

from __future__ import annotations

import doctest
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import client as sc  # noqa: E402
from serving.client import command, common, grpc_client, rest  # noqa: E402

SERVING_DIR = os.path.join(REPO_ROOT, "serving")

LATENT = 4


# ---------------------------------------------------------------------------
# Command line over a stubbed transport (urllib.request.urlopen replaced; no
# server, no sockets). Responses are hand-written documented shapes.
# ---------------------------------------------------------------------------


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def transport(monkeypatch):
    calls = []
    replies = []

    def urlopen(request, timeout=None):
        body = json.loads(request.data) if request.data else None
        calls.append({"url": request.full_url, "method": request.get_method(), "body": body, "timeout": timeout})
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return _Response(json.dumps(reply).encode())

    monkeypatch.setattr(sc.urllib.request, "urlopen", urlopen)
    return calls, replies



def test_cli_sample(transport, capsys):
    calls, replies = transport
    replies.append({"outputs": {"x": np.ones((4, 2)).tolist(), "z": np.zeros((4, LATENT)).tolist()}})
    rc = sc.main(["--url", "http://tfs:8501", "sample", "--num-samples", "4", "--seed", "1", "2"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["x"]["shape"] == [4, 2] and printed["x"]["dtype"] == "float32"
    assert calls[0]["body"]["inputs"] == {"num_samples": 4, "seed": [1, 2], "temperature": 1.0}


# ---------------------------------------------------------------------------
# Module hygiene and docs
# ---------------------------------------------------------------------------


def test_import_does_not_pull_tensorflow_grpc_or_vae_zoo():
    code = (
        "import sys, serving.client, serving.config_protos; "
        "bad = [m for m in ('tensorflow', 'grpc', 'tensorflow_serving', 'vae_zoo') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr



def test_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, os.path.join(SERVING_DIR, "client"), "--help"],
        cwd=SERVING_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "sample" in result.stdout and "--url" in result.stdout


def test_docstring_examples():
    results = {
        module.__name__: doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        for module in (sc, common, rest, grpc_client, command)
    }
    assert all(r.failed == 0 for r in results.values()), results
    assert results["serving.client.common"].attempted > 0
    assert results["serving.client.rest"].attempted > 0
