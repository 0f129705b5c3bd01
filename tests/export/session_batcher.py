"""TF Serving's session batcher, reproduced on a plain `run(feeds) -> outputs` (numpy only).

`tensorflow_model_server --enable_batching` wraps the session in a `BatchingSession`
(tensorflow_serving/batching/batching_session.cc). For one batch of tasks (requests):

* `MergeInputTensors`: every input is the tasks' tensors concatenated along dimension 0; when
  the batch's row count is not an allowed batch size, it is padded up to the next allowed size
  with copies of the first row of the last task (here the last task that has a row: a zero-row
  task has no row to copy). A batch of zero rows is run as it is.
* one `Session::Run` on the merged inputs; its status goes to every task of the batch;
* `SplitOutputTensors`: every output is split along dimension 0 into the tasks' row counts (and
  the padding, which is dropped).

Imports nothing but numpy, so the subprocess in which vae_zoo and TFP are blocked can use it.
"""

import numpy as np


def task_rows(task):
    """The rows of a task: dimension 0 of its inputs (all inputs of a request agree on it)."""
    return len(next(iter(task.values())))


def padded_size(rows, allowed_batch_sizes):
    """The smallest allowed batch size >= rows (rows itself when none is, or when rows is 0)."""
    if rows == 0:
        return 0
    return min((size for size in allowed_batch_sizes if size >= rows), default=rows)


def merge_tasks(tasks, allowed_batch_sizes):
    """`(merged inputs, row counts of the tasks and the padding)` as the batcher builds them."""
    sizes = [task_rows(task) for task in tasks]
    padding = padded_size(sum(sizes), allowed_batch_sizes) - sum(sizes)
    source = next((task for task in reversed(tasks) if task_rows(task)), None)
    merged = {}
    for name in tasks[0]:
        parts = [task[name] for task in tasks]
        if padding:
            parts += [source[name][:1]] * padding
        merged[name] = np.concatenate(parts, axis=0)
    return merged, sizes + ([padding] if padding else [])


def split_outputs(outputs, sizes, num_tasks):
    """Every output split along dimension 0 into `sizes`; the tasks' parts (the padding dropped)."""
    bounds = np.cumsum([0, *sizes])
    for name, value in outputs.items():
        if len(value) != bounds[-1]:
            raise AssertionError(f"output {name} has {len(value)} rows, the batch had {bounds[-1]}")
    return [
        {name: value[bounds[i] : bounds[i + 1]] for name, value in outputs.items()} for i in range(num_tasks)
    ]


def run_batched(run, tasks, allowed_batch_sizes):
    """The tasks' outputs after one batched `run`, or the run's exception for every task."""
    merged, sizes = merge_tasks(tasks, allowed_batch_sizes)
    return split_outputs(run(merged), sizes, len(tasks))
