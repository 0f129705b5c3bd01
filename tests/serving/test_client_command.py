"""Tests for the serving.client command line and package hygiene.

Offline: the CLI runs over a stubbed ``urllib.request.urlopen`` (and a
stand-in gRPC channel) answering for real exports (``serving_testing``); the
package is run as a script, imported in a fresh interpreter, and imported
under its installed name ``vae_zoo.serving.client``; the docstring examples
of every module of the package run as doctests.
"""

from __future__ import annotations

import doctest
import functools
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from serving_testing import (
    REPO_ROOT,
    SMALL_IMAGE,
    SMALL_LATENT,
    exported,
    sc,
)
from tf_serving_standins import GrpcChannel, rest_server

from serving.client import command, common, grpc_client, rest, rest_json

SERVING_DIR = os.path.join(REPO_ROOT, "serving")


def _run(transport, capsys, kind, *argv):
    calls, replies = transport
    if not replies:
        replies.append(rest_server(kind))
    rc = sc.main(["--url", "http://tfs:8501", *argv])
    captured = capsys.readouterr()
    return rc, (json.loads(captured.out) if rc == 0 else json.loads(captured.err))


# ---------------------------------------------------------------------------
# Command line over a stubbed transport
# ---------------------------------------------------------------------------


def test_cli_sample(transport, capsys):
    calls, _ = transport
    rc, printed = _run(
        transport, capsys, "image", "sample", "--seed", "1", "--num-rows", "4", "--temperature", "0.8"
    )
    assert rc == 0
    assert printed["x"]["shape"] == [4, *SMALL_IMAGE] and printed["x"]["dtype"] == "float32"
    assert printed["z"]["shape"] == [4, SMALL_LATENT]
    assert calls[-1]["body"]["signature_name"] == "sample"
    assert calls[-1]["body"]["inputs"]["seed"] == [1, 2, 3, 4]
    np.testing.assert_allclose(calls[-1]["body"]["inputs"]["temperature"], [0.8] * 4)
    model, _ = exported("image")
    expected = model.sample(4, seed=1, temperature=0.8).numpy()
    assert printed["x"]["mean"] == pytest.approx(float(expected.mean()), rel=1e-5)


def test_cli_status_and_metadata(transport, capsys):
    rc, printed = _run(transport, capsys, "image", "status")
    assert rc == 0 and printed["model_version_status"][0]["state"] == "AVAILABLE"
    rc, printed = _run(transport, capsys, "image", "metadata")
    assert rc == 0 and "encode_sample" in printed["metadata"]["signature_def"]["signature_def"]


@pytest.mark.parametrize(
    "argv, outputs, signature",
    [
        (["encode", "--random", "2"], {"mean": [2, SMALL_LATENT], "stddev": [2, SMALL_LATENT]}, "encode"),
        (
            ["reconstruct", "--random", "2", *map(str, SMALL_IMAGE)],
            {"reconstruction": [2, *SMALL_IMAGE]},
            "reconstruct",
        ),
        (["encode-sample", "--random", "3", "--seed", "5"], {"z": [3, SMALL_LATENT]}, "encode_sample"),
        (["log-likelihood", "--random", "2", "--seed", "7"], {"log_likelihood": [2]}, "log_likelihood"),
        (
            ["decode", "--random", "2"],
            {"logits": [2, *SMALL_IMAGE], "probs": [2, *SMALL_IMAGE], "mean": [2, *SMALL_IMAGE]},
            "decode",
        ),
        (
            ["decode-sample", "--random", "2", str(SMALL_LATENT), "--seed", "1"],
            {"x": [2, *SMALL_IMAGE]},
            "decode_sample",
        ),
        (
            ["predict", "sample", "--inputs", '{"seed": [1, 2], "temperature": [1.0, 0.5]}'],
            {"x": [2, *SMALL_IMAGE], "z": [2, SMALL_LATENT]},
            "sample",
        ),
    ],
)
@pytest.mark.parametrize("format", ["columnar", "row"])
def test_cli_image_commands(transport, capsys, argv, outputs, signature, format):
    calls, _ = transport
    rc, printed = _run(transport, capsys, "image", "--format", format, *argv)
    assert rc == 0, printed
    assert {name: info["shape"] for name, info in printed.items()} == outputs
    assert calls[-1]["body"]["signature_name"] == signature
    assert ("instances" if format == "row" else "inputs") in calls[-1]["body"]
    if "--seed" in argv:
        seed = int(argv[argv.index("--seed") + 1])
        sent = calls[-1]["body"]
        seeds = sent["inputs"]["seed"] if format == "columnar" else [r["seed"] for r in sent["instances"]]
        assert seeds == list(range(seed, seed + len(seeds)))


def test_cli_sentence_commands(transport, capsys):
    model, _ = exported("sentence")
    rc, printed = _run(
        transport, capsys, "sentence", "reconstruct", "--sentences", "a small dog", "a cat sat"
    )
    assert rc == 0
    assert printed["sentences"]["shape"] == [2] and printed["sentences"]["dtype"] == "object"
    assert printed["sentences"]["values"] == model.reconstruct_sentences(["a small dog", "a cat sat"])
    rc, printed = _run(
        transport, capsys, "sentence", "sample", "--seed", "3", "--num-rows", "2", "--temperature", "0.5"
    )
    assert rc == 0 and printed["sentences"]["values"] == model.sample_sentences(2, seed=3, temperature=0.5)
    rc, printed = _run(transport, capsys, "sentence", "decode-sample", "--random", "2", "--seed", "1")
    assert rc == 0 and printed["sentences"]["shape"] == [2]
    assert transport[0][-1]["body"]["inputs"]["temperature"] == [1.0, 1.0]


def test_cli_input_files(transport, capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.full((2, *SMALL_IMAGE), 0.5, np.float32))
    (tmp_path / "s.json").write_text(json.dumps(["a small dog"]))
    rc, printed = _run(transport, capsys, "image", "encode", "--x", str(tmp_path / "x.npy"))
    assert rc == 0 and printed["mean"]["shape"] == [2, SMALL_LATENT]
    transport[1].clear()
    rc, printed = _run(transport, capsys, "sentence", "encode", "--x", str(tmp_path / "s.json"))
    assert rc == 0 and printed["mean"]["shape"] == [1, 2]


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["encode", "--random", "2", "16"],
            r"input 'x' of signature 'encode' must have shape \[-1, 4, 4, 1\]",
        ),
        (["decode-sample", "--random", "2", "--temperature", "0.5"], r"unexpected \['temperature'\]"),
        (["predict", "sample", "--inputs", '{"seed": 1, "temperature": [1.0]}'], r"input 'seed' .* \[-1\]"),
        (["predict", "sample", "--inputs", "{not json"], r"Expecting property name"),
    ],
)
def test_cli_errors(transport, capsys, argv, match):
    rc, printed = _run(transport, capsys, "image", *argv)
    assert rc == 1
    assert re.search(match, printed["error"]), printed


def test_cli_over_grpc(monkeypatch, capsys):
    monkeypatch.setattr(command, "GrpcClient", functools.partial(sc.GrpcClient, channel=GrpcChannel("image")))
    rc = sc.main(["--grpc", "tfs:8500", "sample", "--seed", "1", "--num-rows", "3"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["x"]["shape"] == [3, *SMALL_IMAGE]


# ---------------------------------------------------------------------------
# Module hygiene and docs
# ---------------------------------------------------------------------------


def test_import_does_not_pull_tensorflow_grpc_or_vae_zoo():
    code = (
        "import sys, serving.client, serving.config_protos; "
        "bad = [m for m in ('tensorflow', 'grpc', 'tensorflow_serving', 'vae_zoo') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


INSTALLED_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, io, json, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tensorflow_serving", "grpc", "serving"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())
    import urllib.request
    from vae_zoo.serving.client import RestClient, main
    from vae_zoo.serving.client.rest import rest_url

    assert RestClient.__module__ == "vae_zoo.serving.client.rest", RestClient.__module__
    print(rest_url("localhost:8501", verb="metadata"))
    """
)


def test_works_under_its_installed_name(tmp_path):
    """As installed by the wheel (``vae_zoo.serving`` -> ``serving/``): relative imports only, no ``serving``
    on the path."""
    site = tmp_path / "site"
    (site / "vae_zoo").mkdir(parents=True)
    (site / "vae_zoo" / "__init__.py").write_text("")  # the package itself is not under test here
    os.symlink(SERVING_DIR, site / "vae_zoo" / "serving")
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", INSTALLED_SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "http://localhost:8501/v1/models/vae/metadata"
    result = subprocess.run(
        [sys.executable, "-m", "vae_zoo.serving.client", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--num-rows" not in result.stdout and "sample" in result.stdout and "--url" in result.stdout


def test_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, os.path.join(SERVING_DIR, "client"), "sample", "--help"],
        cwd=SERVING_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--num-rows" in result.stdout and "--seed" in result.stdout and "--temperature" in result.stdout


def test_docstring_examples():
    results = {
        module.__name__: doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        for module in (sc, common, rest, rest_json, grpc_client, command)
    }
    assert all(r.failed == 0 for r in results.values()), results
    assert results["serving.client.common"].attempted > 0
    assert results["serving.client.rest"].attempted > 0
    assert results["serving.client.rest_json"].attempted > 0
