"""Shared helpers of the training tests: the quick CLI settings and weight comparisons."""

import os
import subprocess
import sys

import keras
import numpy as np

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
QUICK = [
    "--model",
    "dense",
    "--hidden-units",
    "64",
    "--latent-dim",
    "4",
    "--batch-size",
    "64",
    "--no-tensorboard",
    "--verbose",
    "2",
    "--seed",
    "3",
]


TRAIN = [sys.executable, "-m", "vae_zoo.cli", "train"]


def run_cli(*args, env=None, timeout=300):
    return subprocess.run(
        [*TRAIN, *args], env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def run_cli_together(runs, timeout=300):
    """`vae-zoo train` once per entry of `runs` (`{name: (args, extra env or None)}`), all at once;
    returns `{name: (returncode, stdout and stderr)}`. Every process is killed on the way out."""
    processes = {
        name: subprocess.Popen(
            [*TRAIN, *args],
            env={**ENV, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, (args, env) in runs.items()
    }
    try:
        logs = {name: p.communicate(timeout=timeout)[0] for name, p in processes.items()}
    finally:
        for p in processes.values():
            p.kill()
    return {name: (processes[name].returncode, logs[name]) for name in runs}


def weights_of(path):
    import vae_zoo  # noqa: F401  (registers the classes a .keras file names, when no other test has)

    return keras.models.load_model(path).get_weights()


def assert_same_weights(a, b, atol):
    assert len(a) == len(b)
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    assert worst <= atol, f"weights differ by {worst}"
    return worst


def network_namespaces_usable():
    """Whether this machine lets the tests create Linux network namespaces (root, iproute2's `ip`,
    CAP_SYS_ADMIN): where it does, test_multihost.py runs its workers on two network stacks."""
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"vzprobe{os.getpid() % 10**6}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True, timeout=30).returncode:
        return False
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    return True
