"""Bounds how long a multi-worker task waits for the other tasks of its cluster.

TensorFlow's `MultiWorkerMirroredStrategy()` waits for every task of `TF_CONFIG` without a
deadline, inside its C++ runtime and holding Python's global interpreter lock: no thread of the
waiting process can run, and no signal handler either. So the watch runs in a separate, small
process (this file run as a script; standard library only, no TensorFlow): `strategies.make_strategy`
starts it with its own process id and the timeout, and closes its stdin once the strategy exists.
If that has not happened after the timeout, the watchdog probes every other task's address over
TCP, prints an error naming the tasks nothing answers for, and ends the waiting task with SIGKILL
(SIGTERM does not end it: Python leaves SIGTERM at its default, yet the process lives on, so a
handler in TensorFlow's C++ runtime takes it, and the waiting call never returns to let Python act).
Nothing has been written by then: the run directory comes after the strategy.

Example (the message, for a TF_CONFIG whose second worker is not listening):

>>> config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}
>>> timeout_message(config, 60)  # doctest: +ELLIPSIS
'/job:worker/task:1 at 127.0.0.1:1 did not come up within 60 s (this task: /job:worker/task:0). ...'
"""

import json
import os
import select
import signal
import socket
import sys


def answers(address, timeout=2.0):
    """True when something accepts a TCP connection at "host:port"."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def missing_tasks(config):
    """The other tasks of a TF_CONFIG dict that nothing answers for: `["/job:worker/task:1 at host:port",
    ...]`."""
    me = (config["task"]["type"], config["task"]["index"])
    return [
        f"/job:{job}/task:{index} at {address}"
        for job, addresses in config["cluster"].items()
        for index, address in enumerate(addresses)
        if (job, index) != me and not answers(address)
    ]


def timeout_message(config, timeout):
    """What a task whose cluster did not come up within `timeout` seconds says: the tasks that are missing."""
    missing = missing_tasks(config)
    me = f"/job:{config['task']['type']}/task:{config['task']['index']}"
    if missing:
        what = f"{', '.join(missing)} did not come up within {timeout:g} s"
    else:
        what = (
            f"the cluster did not form within {timeout:g} s, although every other task answers at its address"
        )
    return (
        f"{what} (this task: {me}). Start the same command with its own TF_CONFIG task on every host of the "
        f"cluster {json.dumps(config['cluster'])}, or wait longer with --worker-timeout SECONDS."
    )


def _stood_down(timeout):
    """True when the watched task closed (or wrote to) our stdin within `timeout` seconds."""
    return bool(select.select([sys.stdin], [], [], timeout)[0])


def watch(parent, timeout, config):
    """Waits `timeout` seconds for the stand-down; without it, names the missing tasks and ends `parent`.

    Returns True when the parent was ended.
    """
    if _stood_down(timeout):
        return False
    message = timeout_message(config, timeout)
    if _stood_down(0):  # the cluster formed while the addresses were probed
        return False
    print(f"vae_zoo.training: error: {message}", file=sys.stderr, flush=True)
    try:
        os.kill(parent, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


if __name__ == "__main__":  # python watchdog.py PARENT_PID TIMEOUT, TF_CONFIG in the environment
    watch(int(sys.argv[1]), float(sys.argv[2]), json.loads(os.environ["TF_CONFIG"]))
