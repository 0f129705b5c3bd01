"""Distributed training equals one device: SGD steps on 2 logical CPUs, mirrored and multi-worker runs."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from training_testing import (  # noqa: F401
    ENV,
    QUICK,
    assert_same_weights,
    network_namespaces_usable,
    run_cli,
    run_cli_together,
    weights_of,
)


def test_sgd_epoch_with_a_short_last_batch_on_two_logical_cpus_equals_one_device():
    """One epoch of `model.fit` on numpy data whose size is not a multiple of the batch (dense; dense with
    clipnorm active; sequence with word dropout and the synchronized batch norm of its posterior): a full
    batch of 8, then 5 rows (3 + 2 over the replicas), or for the sequence model also 1 row (1 + 0).

    SGD's update is linear in the gradient: a loss scaled by the replica's rows times the replicas
    (or a missing or doubled 1/replicas), clipping per replica before the all-reduce, noise or
    word-dropout masks drawn per replica or as if the replicas held equal rows would each move the
    weights by about the step itself (>= 1e-3 here), far beyond the 1e-5 tolerance. The metrics
    (the last batch's logs, the epoch's, `evaluate`'s) are per example: averaged per replica they
    differ by about 0.04 nats here.
    """
    script = os.path.join(os.path.dirname(__file__), "replica_steps.py")
    result = subprocess.run([sys.executable, script], env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(report) == ["dense/13", "dense_clipnorm/13", "sequence/13", "sequence/9"]
    for case, values in report.items():
        assert values["difference"] <= 1e-5, (case, values)
        assert values["movement"] >= 1e-3, (case, values)  # the step moved the weights measurably
        assert values["metrics"] <= 1e-4, (case, values)  # nats per example, about 10 here


def test_two_replicas_give_the_same_weights_as_one_device(tmp_path):
    common = [
        *QUICK,
        "--epochs",
        "1",
        "--steps-per-epoch",
        "12",
        "--binarize",
        "dynamic",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "0.01",
    ]
    one = run_cli(*common, "--strategy", "default", "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli(*common, "--strategy", "mirrored", "--logical-cpus", "2", "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["replicas"] == 2
    assert_same_weights(
        weights_of(tmp_path / "one" / "model.keras"), weights_of(tmp_path / "two" / "model.keras"), 1e-5
    )


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_match_one_process(tmp_path):
    """Two workers on this machine's loopback (where network namespaces cannot be created; where
    they can, test_multihost.py's two-stacks test runs the same check on two network stacks)."""
    if network_namespaces_usable():
        pytest.skip("test_multihost.py::test_two_workers_on_two_network_stacks_match_one_process checks this")
    common = [
        *QUICK,
        "--epochs",
        "1",
        "--steps-per-epoch",
        "8",
        "--binarize",
        "dynamic",
        "--optimizer",
        "sgd",
    ]
    common_lr = [*common, "--learning-rate", "0.01"]
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    out = str(tmp_path / "multi")

    def cluster(index):
        return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})

    results = run_cli_together(
        {
            index: ([*common_lr, "--strategy", "multiworker", "--out", out], {"TF_CONFIG": cluster(index)})
            for index in range(2)
        }
    )
    assert all(code == 0 for code, _ in results.values()), "\n".join(
        log[-3000:] for _, log in results.values()
    )
    # The one-device runs at the same rate and at half of it, side by side.
    references = run_cli_together(
        {
            name: (
                [*common, "--learning-rate", rate, "--strategy", "default", "--out", str(tmp_path / name)],
                None,
            )
            for name, rate in (("single", "0.01"), ("half", "0.005"))
        }
    )
    for code, log in references.values():
        assert code == 0, log[-3000:]
    chief = weights_of(os.path.join(out, "model.keras"))
    worker = weights_of(os.path.join(out, "worker_1", "model.keras"))
    assert_same_weights(chief, worker, 0.0)  # identical on both workers
    assert_same_weights(chief, weights_of(tmp_path / "single" / "model.keras"), 1e-5)
    # SGD moves the weights linearly in the gradient: half the rate lands measurably elsewhere, so a
    # doubled or missing 1/workers could not pass the 1e-5 comparison above.
    shift = max(
        float(np.max(np.abs(a - b))) for a, b in zip(chief, weights_of(tmp_path / "half" / "model.keras"))
    )
    assert shift > 1e-3, shift
