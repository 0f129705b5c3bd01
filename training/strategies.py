"""Distribution strategies, precision and XLA switches for training.

`make_strategy(name)` returns the `tf.distribute.Strategy` to build and fit a
model under. Global batch size semantics hold everywhere: `batch_size` is the
number of examples per optimizer step, split evenly across replicas; models
scale their per-replica loss by 1/replicas (`vae_zoo.models.VAE.train_step`).

Example:

>>> from vae_zoo.training import strategies
>>> strategy = strategies.make_strategy("default")
>>> strategy.num_replicas_in_sync
1
"""

import contextlib
import json
import logging
import os
import subprocess
import sys

import keras
import tensorflow as tf

from vae_zoo.training import watchdog

STRATEGIES = ("auto", "default", "mirrored", "multiworker")
#: Seconds a multi-worker task waits for every other task of TF_CONFIG's cluster before it gives up.
WORKER_TIMEOUT = 60.0
logger = logging.getLogger("vae_zoo.training")


def parse_tf_config(text=None):
    """Validates `TF_CONFIG` (JSON) for multi-worker training and returns it as a dict.

    Raises:
        ValueError: when it is missing, not JSON, or lacks a cluster with at
            least one worker and a task whose type and index exist in it.
    """
    text = os.environ.get("TF_CONFIG") if text is None else text
    if not text:
        raise ValueError(
            "--strategy multiworker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {text!r}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not isinstance(cluster.get("worker"), list) or not cluster["worker"]:
        raise ValueError(f'TF_CONFIG needs "cluster": {{"worker": ["host:port", ...]}}, got {cluster!r}')
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ValueError(
                f'TF_CONFIG cluster "{kind}" must be a list of "host:port" strings, got {addresses!r}'
            )
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(
            f'TF_CONFIG "task" must name a job of the cluster ({", ".join(cluster)}), got {task!r}'
        )
    index = task.get("index")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise ValueError(
            f"TF_CONFIG task index must be an int in [0, {len(cluster[task['type']])}), got {index!r}"
        )
    return config


def is_chief(strategy=None):
    """True for the process that writes the run directory: the "chief" task, or worker 0 when there is
    none."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    config = parse_tf_config()
    task = config["task"]
    if "chief" in config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def check_worker_timeout(name, worker_timeout):
    """The seconds a "multiworker" task waits for its cluster: `worker_timeout`, or `WORKER_TIMEOUT` when
    None.

    Raises:
        ValueError: when it is not a positive number, or is given to another strategy.
    """
    if worker_timeout is None:
        return WORKER_TIMEOUT if name == "multiworker" else None
    if name != "multiworker":
        raise ValueError(
            "--worker-timeout applies to --strategy multiworker only (it bounds the wait for the other "
            "hosts), "
            f"got --strategy {name} with --worker-timeout {worker_timeout!r}"
        )
    if (
        isinstance(worker_timeout, bool)
        or not isinstance(worker_timeout, (int, float))
        or not worker_timeout > 0
    ):
        raise ValueError(f"--worker-timeout must be a positive number of seconds, got {worker_timeout!r}")
    return float(worker_timeout)


@contextlib.contextmanager
def cluster_watchdog(config, timeout):
    """Bounds the wait for the cluster while the block runs (MultiWorkerMirroredStrategy's construction).

    TensorFlow waits for every task without a deadline, holding the GIL, so the watch is a separate
    process (`vae_zoo.training.watchdog`, standard library only): after `timeout` seconds it prints
    which tasks are missing and ends this process (SIGKILL). Leaving the block stands it down.
    """
    watcher = subprocess.Popen(
        [sys.executable, "-I", watchdog.__file__, str(os.getpid()), repr(float(timeout))],
        stdin=subprocess.PIPE,
        env={**os.environ, "TF_CONFIG": json.dumps(config)},
    )
    try:
        yield watcher
    finally:
        watcher.stdin.close()  # end of file: stand down
        watcher.wait()


def describe(strategy):
    """One line: the replicas, the strategy and the devices the run trains on (the default strategy:
    the first GPU TensorFlow sees, else the CPU)."""
    import tensorflow as tf

    try:
        devices = ", ".join(strategy.extended.worker_devices)
    except (NotImplementedError, RuntimeError):  # the default strategy: one device, no list
        device = (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))[0].name
        return f"1 replica on {device} (no distribution strategy)"
    return f"{strategy.num_replicas_in_sync} replicas ({type(strategy).__name__}) on {devices}"


def make_strategy(name="auto", worker_timeout=None):
    """A strategy by name: "auto", "default", "mirrored" or "multiworker".

    * "auto": `MirroredStrategy` when more than one GPU is visible, else default.
    * "default": the default (single-device) strategy.
    * "mirrored": `MirroredStrategy` over all visible GPUs, or over the logical
      CPU devices when there is no GPU (e.g. after
      `tf.config.set_logical_device_configuration` split the CPU).
    * "multiworker": `MultiWorkerMirroredStrategy` from `TF_CONFIG` (validated first). The task waits at
      most `worker_timeout` seconds (default `WORKER_TIMEOUT`) for the other tasks to come up; then it
      names the tasks that did not, and its watchdog ends the process (SIGKILL: see `cluster_watchdog`).
      Once training runs, a task that dies is noticed by TensorFlow's coordination service (its
      heartbeats stop: 10 s by default, or at once when its host resets the connection): the
      collectives of the other tasks fail with `UnavailableError` naming it, and their `fit` raises.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Valid strategies: {', '.join(STRATEGIES)}.")
    worker_timeout = check_worker_timeout(name, worker_timeout)
    if name == "multiworker":
        # Before anything else touches the runtime: collective ops are configured at startup.
        config = parse_tf_config()
        with cluster_watchdog(config, worker_timeout):
            return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)


def split_cpu(count):
    """Splits the first CPU into `count` logical devices (before TensorFlow initializes its devices).

    `MirroredStrategy` then runs one replica per logical CPU: the multi-GPU code
    path, testable on a machine without GPUs.
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * int(count)
        )
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != int(count):
            raise RuntimeError(
                f"cannot split the CPU into {count} devices: TensorFlow already initialized its devices "
                "(split before building any model or tensor)"
            ) from None
    return tf.config.list_logical_devices("CPU")


def check_global_batch_size(batch_size, strategy):
    """Raises ValueError unless `batch_size` splits evenly over the strategy's replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < replicas or batch_size % replicas:
        raise ValueError(
            f"The global batch size {batch_size} must be a positive multiple of the number of replicas "
            f"({replicas}); try --batch-size {max(replicas, batch_size - batch_size % replicas)}"
        )
    return batch_size // replicas


def set_precision(mixed_precision):
    """Sets Keras's global dtype policy; returns its name.

    `True` chooses "mixed_float16" on GPUs (with loss scaling, applied by
    Keras's `LossScaleOptimizer` and `optimizer.scale_loss` in the train step)
    and "mixed_bfloat16" on CPUs; a policy name is used as given. Distribution
    heads stay float32 whatever the policy.
    """
    if mixed_precision in (False, None, "float32"):
        policy = "float32"
    elif mixed_precision is True:
        policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
    else:
        policy = str(mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def shard_policy(dataset, strategy):
    """Sets DATA auto-sharding for multi-worker runs: each worker takes its contiguous part of every global
    batch."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    return dataset
