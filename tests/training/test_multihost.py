"""Multi-worker training across two network stacks: two Linux network namespaces joined by a veth pair.

Each worker runs in its own namespace (`ip netns exec`), with its own address on a private /30 that
exists only on the veth pair between the two namespaces this module creates (and deletes, also on
failure). Nothing leaves them: the workers reach each other over the veth pair and nothing else.
Skipped where namespaces cannot be created (not root, no iproute2, no CAP_SYS_ADMIN).
"""

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from training_testing import ENV, QUICK, TRAIN, assert_same_weights, run_cli_together, weights_of

ADDRESSES = ("10.231.0.1", "10.231.0.2")  # a private /30, only on the veth pair between the two namespaces
PORT = 23456  # each namespace has its own ports: no clash with the host or parallel runs
SGD = ["--binarize", "dynamic", "--optimizer", "sgd", "--learning-rate", "0.01"]
STEPS = 100  # per epoch, in the kill test: seconds of training, so the kill lands inside an epoch


def _ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def two_hosts():
    """Two network namespaces joined by a veth pair; yields `[(namespace, address), ...]`.

    Names carry this process's id, so parallel runs do not clash. Skips the test when the
    machine cannot create them. The namespaces (and with them the veth pair) are deleted on the way out.
    """
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if shutil.which("ip") is None:
        pytest.skip("network namespaces need iproute2's `ip` (.ci/setup installs it)")
    tag = f"vz{os.getpid() % 10**8}"  # interface names: at most 15 characters
    names = (f"{tag}a", f"{tag}b")
    links = (f"{tag}x", f"{tag}y")
    created = []
    try:
        for name in names:
            result = _ip("netns", "add", name)
            if result.returncode:
                pytest.skip(f"cannot create a network namespace here (ip netns add: {result.stderr.strip()})")
            created.append(name)
        steps = [
            (
                "-n",
                names[0],
                "link",
                "add",
                links[0],
                "type",
                "veth",
                "peer",
                "name",
                links[1],
                "netns",
                names[1],
            )
        ]
        for name, link, address in zip(names, links, ADDRESSES):
            steps += [
                ("-n", name, "addr", "add", f"{address}/30", "dev", link),
                ("-n", name, "link", "set", link, "up"),
                ("-n", name, "link", "set", "lo", "up"),
            ]
        for step in steps:
            result = _ip(*step)
            assert result.returncode == 0, f"ip {' '.join(step)}: {result.stderr}"
        yield list(zip(names, ADDRESSES))
    finally:
        for name in created:
            _ip("netns", "del", name)


@pytest.fixture
def hosts():
    with two_hosts() as pair:
        yield pair


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A small image set (`.npz`): the runs' final evaluation of the whole training split stays short."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "images.npz"
    x = lambda n: (rng.random((n, 28, 28)) ** 2 * 255).astype(np.uint8)  # noqa: E731
    np.savez(path, x_train=x(64 * STEPS), x_validation=x(5), x_test=x(256))
    return ["--dataset", str(path)]


def tf_config(hosts, index):
    workers = [f"{address}:{PORT}" for _, address in hosts]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def start_worker(hosts, index, args, log_path):
    """`vae-zoo train ARGS` as worker `index`, inside its namespace; output into `log_path`."""
    namespace = hosts[index][0]
    log = open(log_path, "w")
    env = {**ENV, "TF_CONFIG": tf_config(hosts, index)}
    process = subprocess.Popen(
        ["ip", "netns", "exec", namespace, *TRAIN, *args], env=env, stdout=log, stderr=log
    )
    log.close()
    return process


@contextlib.contextmanager
def workers(hosts, args, tmp_path, name, indices=(0, 1)):
    """The workers `indices` running `args`, each killed on the way out; yields `{index: Popen}`."""
    processes = {i: start_worker(hosts, i, args, tmp_path / f"{name}_{i}.log") for i in indices}
    try:
        yield processes
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


def wait_all(processes, timeout):
    """Waits for every process (at most `timeout` seconds in all); returns `{index: returncode}`."""
    deadline = time.monotonic() + timeout
    for p in processes.values():
        p.wait(timeout=max(0.1, deadline - time.monotonic()))
    return {i: p.returncode for i, p in processes.items()}


def logs(tmp_path, name, indices=(0, 1)):
    return "\n".join(
        f"--- worker {i}:\n" + (tmp_path / f"{name}_{i}.log").read_text()[-3000:] for i in indices
    )


def wait_for(condition, timeout, what, processes=()):
    """Polls `condition` every 0.1 s; fails when `timeout` passes or a process ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        ended = {i: p.returncode for i, p in dict(processes).items() if p.poll() is not None}
        assert not ended, f"workers {ended} ended while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.1)


def history_epochs(run_dir):
    path = os.path.join(run_dir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def backup_epoch(work_dir):
    """The epoch count of the backup `latest` names in `work_dir/backup` (None without one)."""
    path = os.path.join(work_dir, "backup", "latest", "training_metadata.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["epoch"]


def test_two_workers_on_two_network_stacks_match_one_process(hosts, images, tmp_path):
    common = [*QUICK, *SGD, *images, "--epochs", "1", "--steps-per-epoch", "8"]
    out = str(tmp_path / "multi")
    with workers(hosts, [*common, "--strategy", "multiworker", "--out", out], tmp_path, "train") as processes:
        # one process at the same rate, and at half of it (the last --learning-rate counts)
        references = run_cli_together(
            {
                name: ([*common, *rate, "--strategy", "default", "--out", str(tmp_path / name)], None)
                for name, rate in (("one", []), ("half", ["--learning-rate", "0.005"]))
            }
        )
        codes = wait_all(processes, timeout=240)
    assert codes == {0: 0, 1: 0}, logs(tmp_path, "train")
    for code, log in references.values():
        assert code == 0, log[-3000:]
    assert json.loads((tmp_path / "multi" / "metrics.json").read_text())["replicas"] == 2
    chief = weights_of(os.path.join(out, "model.keras"))
    assert_same_weights(chief, weights_of(os.path.join(out, "worker_1", "model.keras")), 0.0)
    assert_same_weights(chief, weights_of(tmp_path / "one" / "model.keras"), 1e-5)
    # SGD moves the weights linearly in the gradient: half the rate lands measurably elsewhere, so a
    # doubled or missing 1/workers could not pass the 1e-5 comparison above.
    half = weights_of(tmp_path / "half" / "model.keras")
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(chief, half)) > 1e-3
    # Validation is one short batch of 5 rows, split 3 + 2 over the workers: each worker's rows are a
    # contiguous
    # piece in worker order (noise drawn at their offsets) and the figures are per example, as on one process.
    multi, one = (
        json.loads((tmp_path / name / "metrics.json").read_text())["validation"] for name in ("multi", "one")
    )
    assert max(abs(multi[key] - one[key]) for key in one) <= 1e-3, (multi, one)  # float32 at 540 nats: 6e-5


def cut_last_save_short(work_dir):
    """What a SIGKILL in the middle of the worker's last backup save leaves: `latest` still at the save
    before it, and the new save's weights truncated. Returns the epoch `latest` names now."""
    backup = os.path.join(work_dir, "backup")
    saves = sorted(entry for entry in os.listdir(backup) if entry.startswith("save-"))
    assert len(saves) == 2, saves  # the previous epoch's save is kept beside the last one
    with open(os.path.join(backup, saves[1], "latest.weights.h5"), "r+b") as f:
        f.truncate(100)
    os.remove(os.path.join(backup, "latest"))
    os.symlink(saves[0], os.path.join(backup, "latest"))
    return backup_epoch(work_dir)


def test_a_worker_killed_mid_epoch_is_resumed_from_the_last_backup(hosts, images, tmp_path):
    """SIGKILL of the chief (worker 0: it writes history.csv and leads TensorFlow's coordination service)
    in the last of three epochs; the survivor exits with an error naming it. Worker 1's backup of the second
    epoch is then cut short, as a kill between the two workers' saves leaves it. The same command restarted
    on both hosts resumes both at the second epoch (the last one both backups hold: the chief drops its
    newer save and its history row of the second epoch) and completes the run."""
    out = str(tmp_path / "run")
    args = [
        *QUICK,
        *SGD,
        *images,
        "--epochs",
        "3",
        "--steps-per-epoch",
        str(STEPS),
        "--strategy",
        "multiworker",
    ]
    args += ["--out", out]
    worker_dir = os.path.join(out, "worker_1")
    with workers(hosts, args, tmp_path, "first") as processes:

        def second_epoch_saved():
            return backup_epoch(out) == backup_epoch(worker_dir) == 2 and history_epochs(out) == [0, 1]

        what = "backup of the second epoch on both workers"
        wait_for(second_epoch_saved, timeout=240, what=what, processes=processes)
        processes[0].send_signal(signal.SIGKILL)  # the third epoch is under way (STEPS steps: seconds)
        killed = time.monotonic()
        processes[1].wait(timeout=90)  # the survivor must not hang
        noticed = time.monotonic() - killed
    survivor = (tmp_path / "first_1.log").read_text()
    assert processes[1].returncode != 0, survivor[-3000:]
    assert "UnavailableError" in survivor and "task:0" in survivor, survivor[-3000:]
    # Killed in the third epoch: the backups and history are the second epoch's, complete.
    assert (backup_epoch(out), backup_epoch(worker_dir), history_epochs(out)) == (2, 2, [0, 1])
    assert cut_last_save_short(worker_dir) == 1

    with workers(hosts, args, tmp_path, "again") as processes:
        codes = wait_all(processes, timeout=300)
    assert codes == {0: 0, 1: 0}, logs(tmp_path, "again")
    resumed = (tmp_path / "again_0.log").read_text()
    assert "this worker resumes after epoch 1, the latest all of them hold, not 2" in resumed, resumed[-3000:]
    assert "Epoch 1/3" not in resumed and "Epoch 2/3" in resumed and "Epoch 3/3" in resumed, resumed[-3000:]
    assert history_epochs(out) == [0, 1, 2]  # every epoch once, in order
    chief, worker = (weights_of(os.path.join(d, "model.keras")) for d in (out, worker_dir))
    assert_same_weights(chief, worker, 0.0)  # identical on both workers
    print(f"survivor exited {noticed:.1f} s after the kill")


def test_a_worker_that_never_comes_up_is_named(hosts, tmp_path):
    """Only worker 0 of 2 starts: it exits within --worker-timeout naming the missing task, not hanging."""
    args = [
        *QUICK,
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--strategy",
        "multiworker",
        "--worker-timeout",
        "8",
    ]
    started = time.monotonic()
    with workers(
        hosts, [*args, "--out", str(tmp_path / "lone")], tmp_path, "lone", indices=(0,)
    ) as processes:
        codes = wait_all(processes, timeout=8 + 60)
    seconds = time.monotonic() - started
    log = (tmp_path / "lone_0.log").read_text()
    assert codes == {0: -signal.SIGKILL}, log[-3000:]  # ended by its watchdog
    assert f"/job:worker/task:1 at {ADDRESSES[1]}:{PORT} did not come up within 8 s" in log, log[-3000:]
    assert seconds < 8 + 60, seconds  # the timeout, plus importing TensorFlow on a busy machine
