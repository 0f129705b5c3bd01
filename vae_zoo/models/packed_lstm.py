"""Keras LSTMs run over packed sequences: a batch pays for the tokens it has, not for its longest row.

A batch of right-padded sentences `[N, T]` of lengths l_i costs a masked LSTM N * T cell steps,
of which only sum(l_i) count; in a random batch of WordNet sentences (mean length 9.8 tokens,
`[EOS]` included, the longest row usually cut at 32) that is a third. Packing (as cuDNN's and
PyTorch's packed sequences do) sorts the rows by length, longest first, and lays the tokens out
time-major: step t holds the first n_t sorted rows, those longer than t. The loop's step t
updates only those rows, the input projections of all tokens are one product before the loop,
and outputs come back packed (`[sum l_i, H]`), so the layers after the LSTM (the output softmax)
also see tokens only.

The arithmetic is that of `keras.layers.LSTM` (gates i, f, c, o in that order, `activation` and
`recurrent_activation` from the layer's cell; no dropout): the packed run of a layer equals the
layer's own masked run on the same weights (tested to float32 rounding). What packing needs of
the rows: right padding, each row's tokens first and its padding after (`Packing.lengths`).
Not under XLA, whose shapes are static.

Example:

>>> import numpy as np
>>> p = packing(np.array([2, 3, 1]))
>>> p.sizes.numpy().tolist(), p.rows.numpy().tolist(), p.positions.numpy().tolist()
([3, 2, 1], [1, 0, 2, 1, 0, 1], [0, 0, 0, 1, 1, 2])
"""

from typing import NamedTuple

import keras
import tensorflow as tf


class Packing(NamedTuple):
    """Where the tokens of `N` right-padded rows of `lengths` go when packed time-major.

    `order` `[N]`: the rows by length, longest first (stable); `sizes` `[T]`: n_t, the rows
    longer than t (T the longest length); `rows`, `positions` `[sum lengths]`: the row and the
    position of each packed token, step by step, rows in `order` within a step.
    """

    lengths: tf.Tensor
    order: tf.Tensor
    sizes: tf.Tensor
    rows: tf.Tensor
    positions: tf.Tensor


def packing(lengths):
    """The `Packing` of rows of `lengths` `[N]` (int32, >= 0; a row of length 0 has no token)."""
    lengths = tf.cast(lengths, tf.int32)
    order = tf.argsort(lengths, direction="DESCENDING", stable=True)
    sorted_lengths = tf.gather(lengths, order)
    steps = tf.reduce_max(tf.concat([sorted_lengths, [0]], axis=0))
    present = tf.range(steps)[:, None] < sorted_lengths[None, :]  # [T, N], row-prefix per step
    sizes = tf.reduce_sum(tf.cast(present, tf.int32), axis=1)
    where = tf.cast(tf.where(present), tf.int32)  # [tokens, 2] (t, sorted row), time-major
    return Packing(lengths, order, sizes, tf.gather(order, where[:, 1]), where[:, 0])


def pad_lengths(ids, pad_id):
    """Lengths `[N]` of right-padded ids `[N, T]`: the tokens other than `pad_id`. Fails (at run
    time) with a message naming the row when a row has padding before a token."""
    tokens = tf.not_equal(ids, pad_id)
    lengths = tf.reduce_sum(tf.cast(tokens, tf.int32), axis=1)
    last = tf.reduce_max(tf.where(tokens, tf.range(1, tf.shape(ids)[1] + 1)[None, :], 0), axis=1)
    check = tf.debugging.assert_equal(
        lengths,
        last,
        message=f"token ids must be right-padded (every [PAD] = {pad_id} after the row's last token)",
    )
    with tf.control_dependencies([check]):
        return tf.identity(lengths)


def pack(values, p):
    """`values` `[N, T, ...]` (T at least the longest length) -> their tokens `[sum lengths, ...]`."""
    return tf.gather_nd(values, tf.stack([p.rows, p.positions], axis=-1))


def reverse_tokens(values, p):
    """`values` `[N, T, ...]` with each row's first `lengths` entries reversed (its padding stays)."""
    return tf.reverse_sequence(values, p.lengths, seq_axis=1, batch_axis=0)


def run_lstm(layer, inputs, p, initial_state=None):
    """`keras.layers.LSTM` `layer`'s arithmetic over packed `inputs` `[sum lengths, D]`.

    `initial_state`: `[h, c]`, each `[N, H]` in row order (zeros when None). Returns the outputs
    `[sum lengths, H]` (packed like `inputs`) and each row's last output `[N, H]` in row order
    (its initial `h` for a row of length 0), in the layer's compute dtype.
    """
    cell = layer.cell
    if cell.dropout or cell.recurrent_dropout:
        raise ValueError(f"packed LSTM steps do not apply dropout; {layer.name} has some")
    dtype = layer.compute_dtype
    units = cell.units
    kernel, recurrent = tf.cast(cell.kernel, dtype), tf.cast(cell.recurrent_kernel, dtype)
    projected = tf.matmul(tf.cast(inputs, dtype), kernel)
    if cell.use_bias:
        projected += tf.cast(cell.bias, dtype)
    # At least one step (of no rows when no row has a token): TensorArray.split needs one.
    sizes = tf.concat([p.sizes, [0]], 0)[: tf.maximum(1, tf.shape(p.sizes)[0])]
    steps = tf.shape(sizes)[0]
    rows = tf.shape(p.order)[0]
    if initial_state is None:
        h = c = tf.zeros([rows, units], dtype)
    else:
        h, c = (tf.gather(tf.cast(s, dtype), p.order) for s in initial_state)
    step_inputs = tf.TensorArray(dtype, size=steps, infer_shape=False, element_shape=[None, 4 * units])
    step_inputs = step_inputs.split(projected, sizes)
    outputs = tf.TensorArray(dtype, size=steps, infer_shape=False, element_shape=[None, units])

    def step(t, h, c, outputs):
        n = sizes[t]
        z = step_inputs.read(t) + tf.matmul(h[:n], recurrent)
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=1)
        c_t = cell.recurrent_activation(z_f) * c[:n] + cell.recurrent_activation(z_i) * cell.activation(z_c)
        h_t = cell.recurrent_activation(z_o) * cell.activation(c_t)
        # Rows past their length keep their state: sorted longest first, they are the last ones.
        return t + 1, tf.concat([h_t, h[n:]], 0), tf.concat([c_t, c[n:]], 0), outputs.write(t, h_t)

    _, h, _, outputs = tf.while_loop(
        lambda t, *_: t < steps,
        step,
        (tf.constant(0), h, c, outputs),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, units]),
            tf.TensorShape([None, units]),
            tf.TensorShape(None),
        ),
    )
    return outputs.concat(), tf.scatter_nd(p.order[:, None], h, tf.shape(h))


def encode_final(rnn, embedded, p):
    """The last output `[N, units]` (`[N, 2 units]`, forward then backward) of an encoder `rnn`
    (`keras.layers.LSTM` or `Bidirectional` of one, merge "concat", `return_sequences=False`)
    over the embedded rows `[N, T, D]`, as the layer's masked call gives it."""
    if isinstance(rnn, keras.layers.Bidirectional):
        if rnn.merge_mode != "concat" or rnn.return_sequences:
            raise ValueError("packed encoders take Bidirectional(merge_mode='concat') final outputs")
        _, forward = run_lstm(rnn.forward_layer, pack(embedded, p), p)
        _, backward = run_lstm(rnn.backward_layer, pack(reverse_tokens(embedded, p), p), p)
        return tf.concat([forward, backward], axis=-1)
    if isinstance(rnn, keras.layers.LSTM) and not rnn.return_sequences and not rnn.go_backwards:
        return run_lstm(rnn, pack(embedded, p), p)[1]
    raise ValueError(f"packed encoders take an LSTM or a Bidirectional LSTM, got {type(rnn).__name__}")


__all__ = ["Packing", "encode_final", "pack", "packing", "pad_lengths", "reverse_tokens", "run_lstm"]
