"""`vae-zoo train`: errors before training, the run directory, resume after a kill."""

import csv
import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest


from training_testing import ENV, QUICK, assert_same_weights, run_cli, weights_of  # noqa: F401
from vae_zoo.training.run import run_train_seconds


def test_cli_errors_before_training(tmp_path):
    result = run_cli("--dataset", "cifar11", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "cifar11" in result.stderr and "fashion_mnist" in result.stderr
    assert not (tmp_path / "x" / "model.keras").exists()
    result = run_cli(
        *QUICK,
        "--strategy",
        "mirrored",
        "--logical-cpus",
        "2",
        "--batch-size",
        "63",
        "--out",
        str(tmp_path / "y"),
    )
    assert (
        result.returncode != 0
        and "must be a positive multiple of the number of replicas (2)" in result.stderr
    )
    result = run_cli(
        *QUICK,
        "--strategy",
        "mirrored",
        "--logical-cpus",
        "2",
        "--steps-per-execution",
        "4",
        "--out",
        str(tmp_path / "w"),
    )
    assert (
        result.returncode == 2
        and "--steps-per-execution > 1 does not work under a distribution strategy" in result.stderr
    )
    result = run_cli(
        *QUICK, "--strategy", "mirrored", "--logical-cpus", "2", "--jit-compile", "--out", str(tmp_path / "j")
    )
    assert (
        result.returncode == 2
        and "--jit-compile does not work under a distribution strategy" in result.stderr
    )
    truncated = tmp_path / "broken"
    truncated.mkdir()
    for prefix in ("train", "t10k"):  # valid labels, images cut to 100 of 7840 payload bytes
        (truncated / f"{prefix}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + bytes(10))
        header = bytes([0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28])
        (truncated / f"{prefix}-images-idx3-ubyte").write_bytes(header + bytes(100))
    result = run_cli(*QUICK, "--dataset", str(truncated), "--out", str(tmp_path / "z"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        "train-images-idx3-ubyte: truncated IDX file" in result.stderr
        and "expected 7856 bytes, got 116 bytes" in result.stderr
    )


def test_train_command_writes_the_run_directory(tmp_path):
    out = tmp_path / "run"
    result = run_cli(
        *QUICK,
        "--epochs",
        "2",
        "--steps-per-epoch",
        "15",
        "--out",
        str(out),
        "--kl-annealing",
        "linear",
        "--anneal-steps",
        "20",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in (
        "config.yaml",
        "model.keras",
        "metrics.json",
        "samples.png",
        "reconstructions.png",
        "history.csv",
        "checkpoints/best.keras",
        "checkpoints/last.keras",
    ):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    # train and validation figures only: looking at the test split is never the default (issue 24)
    assert not [key for key in metrics if key.startswith("test")]
    for split in ("train", "validation"):
        m = metrics[split]
        assert m["negative_elbo"] == pytest.approx(m["kl"] + m["reconstruction"], rel=1e-5)
        assert 150 < m["negative_elbo"] < 450  # nats per binarized Fashion-MNIST image, after 30 steps
    assert metrics["config"]["kl_annealing"] == "linear"
    assert "local IDX files in /usr/share/datasets/fashion-mnist" in result.stderr + result.stdout
    assert "Epoch 2/2" in result.stdout


@pytest.mark.parametrize(
    "strategy", [[], ["--strategy", "mirrored", "--logical-cpus", "2"]], ids=["one", "mirrored"]
)
def test_killed_run_resumes_from_the_last_epoch(tmp_path, strategy):
    """SIGKILLed mid-epoch and started again, a run resumes after its last epoch and ends with the weights
    of the same command never stopped (its batches too: the stream skips the epochs it had served)."""
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "vae_zoo.cli",
        "train",
        *QUICK,
        *strategy,
        "--epochs",
        "4",
        "--steps-per-epoch",
        "150",
        "--lr-schedule",
        "cosine",
        "--out",
    ]
    args = [*command, str(out)]
    process = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    history = out / "history.csv"
    deadline = time.time() + 240
    while time.time() < deadline:  # wait for two finished epochs, then kill mid-epoch 3
        if history.exists() and len(history.read_text().strip().splitlines()) >= 3:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(history.read_text().strip().splitlines()) - 1
    assert done >= 2 and not (out / "model.keras").exists()
    saved = json.loads((out / "backup" / "latest" / "training_metadata.json").read_text())["epoch"]
    result = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Epoch {done + 1}/4" in result.stdout and "Epoch 1/4" not in result.stdout
    with open(history) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1, 2, 3][: len(epochs)] and epochs[-1] == 3
    model = keras.models.load_model(out / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 4 * 150
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["epochs_completed"], metrics["resumed_after_epoch"]) == (4, saved)
    # the cosine schedule spans the whole run (4 x 150 steps) across the restart and ends at 1% of the rate
    np.testing.assert_allclose(float(model.optimizer.learning_rate.numpy()), 0.01 * 1e-3, rtol=1e-4)
    whole = subprocess.run(
        [*command, str(tmp_path / "whole")], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert_same_weights(weights_of(tmp_path / "whole" / "model.keras"), model.get_weights(), atol=0.0)


def test_warm_start_begins_from_the_first_runs_final_weights(tmp_path):
    from vae_zoo.training.config import resolve
    from vae_zoo.training.run import train as train_config

    def train(overrides):
        return train_config(resolve(overrides=overrides))

    common = {
        "model": "dense",
        "model_kwargs": {"hidden_units": [32]},
        "latent_dim": 4,
        "batch_size": 64,
        "epochs": 1,
        "steps_per_epoch": 10,
        "tensorboard": False,
        "verbose": 0,
        "seed": 3,
    }
    first = tmp_path / "first.yaml"
    first.write_text(json.dumps({**common, "out": str(tmp_path / "first")}))
    second = {
        **common,
        "warm_start": str(first),
        "out": str(tmp_path / "second"),
        "optimizer": "sgd",
        "learning_rate": 0.0,
    }
    with pytest.raises(FileNotFoundError, match=r"has not finished .*vae-zoo train --config .*first\.yaml"):
        train(second)
    assert not (tmp_path / "second").exists()
    first_metrics = train({**common, "out": str(tmp_path / "first")})
    with pytest.raises(ValueError, match=r"trains another model or data \(latent_dim: 4 there, 8 here\)"):
        train({**second, "latent_dim": 8})
    assert not (tmp_path / "second").exists()
    metrics = train(second)  # SGD at rate 0: the second run ends where it began
    assert_same_weights(
        weights_of(tmp_path / "first" / "model.keras"),
        weights_of(tmp_path / "second" / "model.keras"),
        atol=0.0,
    )
    assert metrics["warm_start"]["train_seconds"] == first_metrics["train_seconds_this_session"]
    total = metrics["train_seconds_this_session"] + first_metrics["train_seconds_this_session"]
    assert metrics["train_seconds_total"] == pytest.approx(total, abs=0.11)


class _Killed(Exception):
    """Stands for a kill after an epoch's backup was saved."""


def _train_small(out, epochs=3):
    """A 10-step-an-epoch DenseVAE run on dynamically binarized Fashion-MNIST into `out`."""
    from vae_zoo.training.config import resolve
    from vae_zoo.training.run import train

    common = {
        "model": "dense",
        "model_kwargs": {"hidden_units": [32]},
        "latent_dim": 4,
        "batch_size": 64,
        "binarize": "dynamic",
        "epochs": epochs,
        "steps_per_epoch": 10,
        "tensorboard": False,
        "verbose": 0,
        "seed": 3,
    }
    return train(resolve(overrides={**common, "out": str(out)}))


def _killed_after_a_backup(monkeypatch, out):
    """`_train_small(out)` killed after the first epoch it finishes (after that epoch's backup)."""
    saved = keras.callbacks.ModelCheckpoint.on_epoch_end

    def killed_after_the_backup(self, epoch, logs=None):  # runs after AtomicBackupAndRestore's save
        saved(self, epoch, logs)
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks.ModelCheckpoint, "on_epoch_end", killed_after_the_backup)
        with pytest.raises(_Killed):
            _train_small(out)
    return out / "backup" / "latest" / "training_metadata.json"


def test_a_run_resumed_from_its_backup_trains_on_the_uninterrupted_runs_batches(tmp_path, monkeypatch):
    """Killed after epoch 1 and resumed (fresh datasets, as in a new process), a run ends with the weights of
    the run that was never stopped.

    The training stream's shuffle and dynamic binarization draw new keys every epoch, counted from the
    dataset's creation: a resume that did not skip the stream ahead (`data_epochs` in the backup) would
    train epochs 2 and 3 on the batches of epochs 1 and 2 and end elsewhere; so would one that skipped it
    by a count other than what Keras's `fit` makes per epoch."""
    _train_small(tmp_path / "whole")
    metadata = _killed_after_a_backup(monkeypatch, tmp_path / "resumed")
    saved = json.loads(metadata.read_text())
    assert {k: saved[k] for k in ("epoch", "batch", "data_epochs")} == {
        "epoch": 1,
        "batch": 0,
        "data_epochs": 1,
    }
    time.sleep(1.0)  # between the sessions: not training time
    _train_small(tmp_path / "resumed")
    assert_same_weights(
        weights_of(tmp_path / "whole" / "model.keras"),
        weights_of(tmp_path / "resumed" / "model.keras"),
        atol=0.0,
    )
    # the run's record counts both sessions: its 3 epochs and the seconds of the first one's saved epoch
    metrics = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3 and metrics["resumed_after_epoch"] == 1
    assert 0.0 < saved["train_seconds"] < metrics["train_seconds_total"]
    total = saved["train_seconds"] + metrics["train_seconds_this_session"]
    assert metrics["train_seconds_total"] == pytest.approx(total, abs=0.11)
    assert "resumed_after_epoch" not in json.loads((tmp_path / "whole" / "metrics.json").read_text())


def test_a_save_without_data_epochs_restarts_the_stream_and_counts_from_there(tmp_path, monkeypatch):
    """A save written before `data_epochs` was recorded resumes with the stream from its start, as the run
    that wrote it did, and the next save counts the epochs that stream has served since (1 after one
    epoch, not the run's epoch 2): a later resume then skips to where that stream really was."""
    out = tmp_path / "run"
    metadata = _killed_after_a_backup(monkeypatch, out)
    metadata.write_text(json.dumps({"epoch": 1, "batch": 0}))  # as older code wrote it
    metadata = _killed_after_a_backup(monkeypatch, out)
    assert json.loads(metadata.read_text()) == {
        "epoch": 2,
        "batch": 0,
        "data_epochs": 1,
        "train_seconds": None,
    }
    # the seconds before the old save were not recorded: the run's total is unknown, not one session's
    metrics = _train_small(out)
    assert metrics["epochs_completed"] == 3 and metrics["train_seconds_total"] is None
    assert run_train_seconds(json.loads((out / "metrics.json").read_text())) is None
