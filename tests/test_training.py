"""Training pipeline: configs, strategies, callbacks, the `vae-zoo train` command, resume."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from vae_zoo.training import callbacks as cb
from vae_zoo.training import config as config_lib
from vae_zoo.training import strategies

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
QUICK = [
    "--model", "dense", "--hidden-units", "64", "--latent-dim", "4", "--batch-size", "64",
    "--no-tensorboard", "--verbose", "2", "--seed", "3",
]  # fmt: skip


def run_cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", "train", *args],
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def weights_of(path):
    return keras.models.load_model(path).get_weights()


def assert_same_weights(a, b, atol):
    assert len(a) == len(b)
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    assert worst <= atol, f"weights differ by {worst}"
    return worst


# --------------------------------------------------------------------- configs


def test_config_file_and_flags(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("model: conv\nepochs: 3\nmodel_kwargs: {filters: [8, 16]}\n")
    config = config_lib.resolve(str(path), {"epochs": 5})
    assert (config["model"], config["epochs"], config["model_kwargs"]) == ("conv", 5, {"filters": [8, 16]})
    assert config["out"] == os.path.join("runs", "conv_fashion_mnist")
    (tmp_path / "r.json").write_text(json.dumps({"latent_dim": 2}))
    assert config_lib.resolve(str(tmp_path / "r.json"))["latent_dim"] == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model": "gan"}, "Unknown model 'gan'. Valid: dense, conv, beta."),
        ({"strategy": "tpu"}, "Unknown strategy 'tpu'. Valid: auto, default, mirrored, multiworker."),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"learning_rat": 0.1}, "Unknown setting\\(s\\) in flags: learning_rat"),
        ({"lr_schedule": "step"}, "Unknown lr_schedule 'step'. Valid: none, cosine."),
        ({"lr_final_fraction": 2}, "lr_final_fraction must be a number in \\[0, 1\\], got 2"),
    ],
)
def test_bad_configs_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.resolve(overrides=overrides)


def test_kl_annealing_is_refused_where_there_is_no_kl_weight():
    with pytest.raises(ValueError, match="kl_annealing 'linear' drives the ELBO's KL weight, but objective 'iwae' has no KL term"):
        config_lib.resolve(overrides={"objective": "iwae", "num_samples": 5, "kl_annealing": "linear"})
    with pytest.raises(ValueError, match="the capacity objective \\(capacity 25.0\\) weights \\|KL - C\\| by gamma"):
        config_lib.resolve(overrides={"model": "beta", "model_kwargs": {"capacity": 25.0}, "kl_annealing": "linear"})
    with pytest.raises(ValueError, match="Unknown optimizer 'rmsprop'. Valid: adam, sgd."):
        config_lib.resolve(overrides={"optimizer": "rmsprop"})


def test_kl_annealing_callback_refuses_models_without_a_kl_weight(fashion_train):
    import vae_zoo

    for model in (
        vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), objective="iwae", num_samples=3, seed=0),
        vae_zoo.models.BetaVAE((28, 28, 1), latent_dim=2, filters=(4, 4), hidden_units=8, capacity=10.0, seed=0),
    ):
        model.compile(optimizer="sgd", steps_per_execution=1)
        with pytest.raises(ValueError, match="KL annealing sets model.beta, the KL weight of the ELBO, but this"):
            model.fit(fashion_train[:64], batch_size=32, epochs=1, verbose=0, callbacks=[cb.KLAnnealing("linear", steps=10)])
        assert int(model.optimizer.iterations.numpy()) == 0  # refused before any step


def test_bad_config_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="must hold a mapping of settings, got list"):
        config_lib.resolve(str(path))


# ------------------------------------------------------------------ strategies


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {}}', 'TF_CONFIG needs "cluster": {"worker"'),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', '"host:port" strings'),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "ps", "index": 0}}', '"task" must name a job'),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "index must be an int in \\[0, 2\\)"),
    ],
)
def test_malformed_tf_config(text, message):
    with pytest.raises(ValueError, match=message):
        strategies.parse_tf_config(text)


def test_missing_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="--strategy multiworker needs TF_CONFIG"):
        strategies.make_strategy("multiworker")


def test_global_batch_must_split_over_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

    assert strategies.check_global_batch_size(64, TwoReplicas()) == 32
    with pytest.raises(ValueError, match="global batch size 65 must be a positive multiple of the number of replicas \\(2\\); try --batch-size 64"):
        strategies.check_global_batch_size(65, TwoReplicas())


def test_cli_errors_before_training(tmp_path):
    result = run_cli("--dataset", "cifar11", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "cifar11" in result.stderr and "fashion_mnist" in result.stderr
    assert not (tmp_path / "x" / "model.keras").exists()
    result = run_cli(*QUICK, "--strategy", "mirrored", "--logical-cpus", "2", "--batch-size", "63", "--out", str(tmp_path / "y"))
    assert result.returncode != 0 and "must be a positive multiple of the number of replicas (2)" in result.stderr
    result = run_cli(*QUICK, "--strategy", "mirrored", "--logical-cpus", "2", "--steps-per-execution", "4", "--out", str(tmp_path / "w"))
    assert result.returncode == 2 and "--steps-per-execution > 1 does not work under a distribution strategy" in result.stderr
    result = run_cli(*QUICK, "--strategy", "mirrored", "--logical-cpus", "2", "--jit-compile", "--out", str(tmp_path / "j"))
    assert result.returncode == 2 and "--jit-compile does not work under a distribution strategy" in result.stderr
    truncated = tmp_path / "broken"
    truncated.mkdir()
    for prefix in ("train", "t10k"):  # valid labels, images cut to 100 of 7840 payload bytes
        (truncated / f"{prefix}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + bytes(10))
        header = bytes([0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28])
        (truncated / f"{prefix}-images-idx3-ubyte").write_bytes(header + bytes(100))
    result = run_cli(*QUICK, "--dataset", str(truncated), "--out", str(tmp_path / "z"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "train-images-idx3-ubyte: truncated IDX file" in result.stderr and "expected 7856 bytes, got 116 bytes" in result.stderr


# ------------------------------------------------------------------ callbacks


def test_kl_schedules():
    assert [cb.kl_weight(s, "linear", 10) for s in (0, 5, 10, 20)] == [0.0, 0.5, 1.0, 1.0]
    assert cb.kl_weight(50, "sigmoid", 100) == pytest.approx(0.5)
    assert cb.kl_weight(0, "sigmoid", 100) < 0.01 and cb.kl_weight(100, "sigmoid", 100) > 0.99
    # 4 cycles of 25 steps: rise over the first 12.5 steps, hold at 1, restart
    values = [cb.kl_weight(s, "cyclical", 100, cycles=4, ratio=0.5) for s in (0, 5, 12.5, 20, 25, 30, 100)]
    assert values == pytest.approx([0.0, 0.4, 1.0, 1.0, 0.0, 0.4, 1.0])
    with pytest.raises(ValueError, match="Unknown KL annealing schedule 'cosine'"):
        cb.kl_weight(0, "cosine", 10)


def test_kl_annealing_drives_model_beta(fashion_train):
    import vae_zoo

    model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), seed=0)
    model.compile(optimizer="adam", steps_per_execution=1)
    history = model.fit(
        fashion_train[:640], batch_size=64, epochs=2, verbose=0, callbacks=[cb.KLAnnealing("linear", steps=40, max_beta=2.0)]
    ).history
    # beta is set before each batch from the step count: last batch of epoch 1 is step 9, of epoch 2 step 19
    assert history["beta"] == pytest.approx([2.0 * 9 / 40, 2.0 * 19 / 40])


def test_nan_guard_stops_with_advice(capsys, fashion_train):
    import vae_zoo

    model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), likelihood="gaussian", seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1e6), steps_per_execution=1)
    model.fit(fashion_train[:640].astype("float32") * 1e3, batch_size=64, epochs=3, verbose=0, callbacks=[cb.NaNGuard()])
    out = capsys.readouterr().out
    assert getattr(model, "nan_stopped", False)
    assert "training stopped. try a lower --learning-rate, gradient clipping (--clipnorm 1.0)" in out


# ------------------------------------------------------------ the train command


def test_train_command_writes_the_run_directory(tmp_path):
    out = tmp_path / "run"
    result = run_cli(*QUICK, "--epochs", "2", "--steps-per-epoch", "15", "--out", str(out), "--kl-annealing", "linear", "--anneal-steps", "20")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.yaml", "model.keras", "metrics.json", "samples.png", "reconstructions.png", "history.csv", "checkpoints/best.keras", "checkpoints/last.keras"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("train", "validation", "test"):
        m = metrics[split]
        assert m["negative_elbo"] == pytest.approx(m["kl"] + m["reconstruction"], rel=1e-5)
        assert 150 < m["negative_elbo"] < 450  # nats per binarized Fashion-MNIST image, after 30 steps
    assert metrics["config"]["kl_annealing"] == "linear"
    assert "local IDX files in /usr/share/datasets/fashion-mnist" in result.stderr + result.stdout
    assert "Epoch 2/2" in result.stdout


def test_killed_run_resumes_from_the_last_epoch(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "vae_zoo.cli", "train", *QUICK, "--epochs", "4", "--steps-per-epoch", "150", "--out", str(out), "--lr-schedule", "cosine"]
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
    result = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Epoch {done + 1}/4" in result.stdout and "Epoch 1/4" not in result.stdout
    with open(history) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1, 2, 3][: len(epochs)] and epochs[-1] == 3
    model = keras.models.load_model(out / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 4 * 150
    # the cosine schedule spans the whole run (4 x 150 steps) across the restart and ends at 1% of the rate
    np.testing.assert_allclose(float(model.optimizer.learning_rate.numpy()), 0.01 * 1e-3, rtol=1e-4)


# ------------------------------------------------------------- distribution


def test_sgd_steps_on_two_logical_cpus_equal_one_device():
    """One and two SGD steps (dense; dense with clipnorm active; sequence with word dropout).

    SGD's update is linear in the gradient: a missing or doubled 1/replicas, clipping per
    replica before the all-reduce, or word-dropout masks drawn per replica would each move
    the weights by about the step itself (>= 1e-3 here), far beyond the 1e-5 tolerance.
    """
    script = os.path.join(os.path.dirname(__file__), "replica_steps.py")
    result = subprocess.run([sys.executable, script], env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(report) == [f"{c}/{n}" for c in ("dense", "dense_clipnorm", "sequence") for n in (1, 2)]
    for case, values in report.items():
        assert values["difference"] <= 1e-5, (case, values)
        assert values["movement"] >= 1e-3, (case, values)  # the step moved the weights measurably


def test_two_replicas_give_the_same_weights_as_one_device(tmp_path):
    common = [*QUICK, "--epochs", "1", "--steps-per-epoch", "12", "--binarize", "dynamic", "--optimizer", "sgd", "--learning-rate", "0.01"]
    one = run_cli(*common, "--strategy", "default", "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli(*common, "--strategy", "mirrored", "--logical-cpus", "2", "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["replicas"] == 2
    assert_same_weights(weights_of(tmp_path / "one" / "model.keras"), weights_of(tmp_path / "two" / "model.keras"), 1e-5)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_match_one_process(tmp_path):
    common = [*QUICK, "--epochs", "1", "--steps-per-epoch", "8", "--binarize", "dynamic", "--optimizer", "sgd"]
    common_lr = [*common, "--learning-rate", "0.01"]
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    out = str(tmp_path / "multi")
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "vae_zoo.cli", "train", *common_lr, "--strategy", "multiworker", "--out", out],
                env={**ENV, "TF_CONFIG": tf_config},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        logs = [p.communicate(timeout=300)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    assert all(p.returncode == 0 for p in processes), "\n".join(log[-3000:] for log in logs)
    single = run_cli(*common_lr, "--strategy", "default", "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr[-3000:]
    chief = weights_of(os.path.join(out, "model.keras"))
    worker = weights_of(os.path.join(out, "worker_1", "model.keras"))
    assert_same_weights(chief, worker, 0.0)  # identical on both workers
    assert_same_weights(chief, weights_of(tmp_path / "single" / "model.keras"), 1e-5)
    # SGD moves the weights linearly in the gradient: half the rate lands measurably elsewhere, so a
    # doubled or missing 1/workers could not pass the 1e-5 comparison above.
    half = run_cli(*common, "--learning-rate", "0.005", "--strategy", "default", "--out", str(tmp_path / "half"))
    assert half.returncode == 0, half.stderr[-3000:]
    shift = max(float(np.max(np.abs(a - b))) for a, b in zip(chief, weights_of(tmp_path / "half" / "model.keras")))
    assert shift > 1e-3, shift
