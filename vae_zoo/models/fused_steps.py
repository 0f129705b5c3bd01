"""XLA over a whole execution: `steps_per_execution` training steps in one compiled loop.

Keras's TF trainer runs each step of a multi-step execution as its own
function call inside a (not compiled) `tf.while_loop` over the iterator, with
an XLA launch, an iterator read and optional-value bookkeeping per step. At
batch 128 a DenseVAE step is about 2.5 ms of compute, and that per-step
overhead was about a quarter of it (benchmarks/README.md). Here one
execution is three calls:

1. read up to `steps_per_execution` batches of the same shape from the
   iterator into one stacked tensor (a batch of another shape, the smaller
   last one, is kept for its own call);
2. check the values of all of them at once, outside XLA (XLA drops
   assertions; the messages are `prepare_inputs`'s);
3. run the steps in one XLA-compiled `tf.while_loop`.

The logs returned are those of the last step, as Keras's own loop returns.
Used for every single-device model compiled with `jit_compile=True`
(with `steps_per_execution=1` an execution is one step).
"""

import tensorflow as tf


def fused_function(model, step_function):
    """A Keras `train_function`/`test_function`: `function(iterator)` -> logs of the execution's last step."""
    steps = int(model.steps_per_execution)

    training = step_function == model.train_step

    def step(stacked, noise, i):
        model._injected_noise = noise[i]
        try:
            return step_function(tf.nest.map_structure(lambda t: t[i], stacked))
        finally:
            model._injected_noise = None

    @tf.function(jit_compile=True, reduce_retracing=True)
    def run_steps(stacked, noise):
        count = tf.shape(tf.nest.flatten(stacked)[0])[0]
        first = step(stacked, noise, 0)
        body = lambda i, outputs: (i + 1, step(stacked, noise, i))  # noqa: E731
        return tf.while_loop(lambda i, _: i < count, body, (tf.constant(1), first))[1]

    @tf.function(reduce_retracing=True)
    def draw_noise(count, rows):
        # Each step's training noise, keyed by (seed, optimizer step) as on the plain path, drawn
        # outside XLA (whose generators give other numbers for the same seed).
        start = model.optimizer.iterations if training else None
        counters = (
            tf.range(count, dtype=tf.int64) + tf.cast(start, tf.int64) if training else tf.fill([count], -1)
        )
        return tf.map_fn(
            lambda c: model.step_noise(rows, c),
            counters,
            fn_output_signature=tf.TensorSpec([model.num_samples, None, model.latent_dim], tf.float32),
        )

    @tf.function(reduce_retracing=True)
    def read(iterator):
        spec = iterator.element_spec
        arrays = tf.nest.map_structure(
            lambda s: tf.TensorArray(
                s.dtype, size=0, dynamic_size=True, element_shape=s.shape, infer_shape=False
            ),
            spec,
        )
        first = iterator.get_next_as_optional()
        rows = tf.cond(
            first.has_value(),
            lambda: tf.shape(tf.nest.flatten(first.get_value())[0])[0],
            lambda: tf.constant(-1),
        )

        def cond(i, arrays, optional, full, mismatch):
            return tf.logical_and(optional.has_value(), tf.logical_not(tf.logical_or(full, mismatch)))

        def body(i, arrays, optional, full, mismatch):
            value = optional.get_value()

            def keep():
                written = tf.nest.map_structure(lambda a, t: a.write(i, t), arrays, value)
                full = i + 1 >= steps
                following = tf.cond(full, lambda: optional, iterator.get_next_as_optional)
                return i + 1, written, following, full, tf.constant(False)

            same = tf.equal(tf.shape(tf.nest.flatten(value)[0])[0], rows)
            return tf.cond(same, keep, lambda: (i, arrays, optional, full, tf.constant(True)))

        count, arrays, leftover, _, mismatch = tf.while_loop(
            cond, body, (tf.constant(0), arrays, first, tf.constant(False), tf.constant(False))
        )
        stacked = tf.nest.map_structure(lambda a: a.stack(), arrays)
        return stacked, count, leftover, mismatch  # `leftover`: a batch of another shape, when `mismatch`

    @tf.function(reduce_retracing=True)
    def check(stacked):
        data = tf.nest.flatten(stacked)[0]
        flat = tf.reshape(data, tf.concat([[-1], tf.shape(data)[2:]], axis=0))
        with tf.control_dependencies(tf.nest.flatten(model.prepare_inputs(flat))):
            return tf.identity(data)

    def run(stacked):
        if model.validate_inputs:
            check(stacked)
        data = tf.nest.flatten(stacked)[0]
        return run_steps(stacked, draw_noise(tf.shape(data)[0], tf.shape(data)[1]))

    def function(iterator):
        if not isinstance(iterator, tf.data.Iterator):
            outputs = None
            for _, data in zip(range(steps), iterator):
                outputs = run(tf.nest.map_structure(lambda t: tf.expand_dims(t, 0), data))
            return outputs
        stacked, count, leftover, pending = read(iterator)
        outputs = None
        if int(count) > 0:
            outputs = run(stacked)
        if bool(pending):
            outputs = run(tf.nest.map_structure(lambda t: tf.expand_dims(t, 0), leftover.get_value()))
        if outputs is None:
            raise StopIteration
        return outputs

    return function
