"""Distribution strategies: TF_CONFIG parsing, global batch checks, the wait for a multi-worker cluster."""

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from vae_zoo.training import strategies, watchdog

from training_testing import ENV, QUICK, assert_same_weights, run_cli, weights_of  # noqa: F401


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {}}', 'TF_CONFIG needs "cluster": {"worker"'),
        (
            '{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
            '"host:port" strings',
        ),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "ps", "index": 0}}',
            '"task" must name a job',
        ),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
            "index must be an int in \\[0, 2\\)",
        ),
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
    with pytest.raises(
        ValueError,
        match="global batch size 65 must be a positive multiple of the number of replicas \\(2\\); "
        "try --batch-size 64",
    ):
        strategies.check_global_batch_size(65, TwoReplicas())


def test_worker_timeout_applies_to_multiworker_only():
    assert strategies.check_worker_timeout("multiworker", None) == strategies.WORKER_TIMEOUT == 60
    assert strategies.check_worker_timeout("multiworker", 7) == 7.0
    assert strategies.check_worker_timeout("default", None) is None
    with pytest.raises(
        ValueError, match="--worker-timeout applies to --strategy multiworker only .* --strategy mirrored"
    ):
        strategies.check_worker_timeout("mirrored", 30)
    for bad in (0, -1, "60", True):
        with pytest.raises(
            ValueError, match=f"--worker-timeout must be a positive number of seconds, got {bad!r}"
        ):
            strategies.check_worker_timeout("multiworker", bad)


def _watch(config, timeout, stand_down_after=None):
    """Runs the watchdog script on a stand-in task (a sleeping process); returns (task's end, seconds,
    stderr)."""
    task = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.monotonic()
    watcher = subprocess.Popen(
        [sys.executable, "-I", watchdog.__file__, str(task.pid), str(timeout)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**ENV, "TF_CONFIG": json.dumps(config)},
    )
    try:
        if stand_down_after is not None:
            time.sleep(stand_down_after)
            watcher.stdin.close()
        watcher.wait(timeout=30)  # not communicate(): it would close stdin, which stands the watchdog down
        stderr = watcher.stderr.read()
        code = task.wait(timeout=5 if stand_down_after is None else 0.5)
    except subprocess.TimeoutExpired:
        code = "still running"
    finally:
        task.kill()
        watcher.kill()
    return code, time.monotonic() - started, stderr


def test_the_watchdog_names_the_tasks_that_did_not_come_up_and_ends_the_waiting_one():
    """TensorFlow waits for the cluster forever: the watchdog ends the waiting task after the timeout,
    naming the task nothing answers for (not the one that listens), and stands down when told in time."""
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        up, down = (f"127.0.0.1:{s.getsockname()[1]}" for s in (listening, closed))
        config = {"cluster": {"worker": ["127.0.0.1:1", up, down]}, "task": {"type": "worker", "index": 0}}
        code, seconds, stderr = _watch(config, 1.5)
        assert code == -signal.SIGKILL, (code, stderr)
        assert 1.5 <= seconds < 15, seconds
        named = (
            f"error: /job:worker/task:2 at {down} did not come up within 1.5 s "
            "(this task: /job:worker/task:0)"
        )
        assert named in stderr, stderr
        assert "task:1" not in stderr and "--worker-timeout SECONDS" in stderr
        code, seconds, stderr = _watch(config, 3, stand_down_after=0.5)  # the strategy came up in time
        assert code == "still running" and stderr == "", (code, stderr)
