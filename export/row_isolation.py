"""Per-row validity in every exported signature: one bad request never fails its batch-mates.

TF Serving's batcher concatenates concurrent requests along dimension 0, runs them as one
`Session::Run` and returns that run's one status to every request in the batch. A batch-wide
assertion (pixels in [0, 1], no NaN) would therefore fail every client batched with one that sent
0..255 pixels. So each signature checks every row by itself:

* the rules: the data input by `model.serving_row_errors` (finite values, the likelihood's range,
  token ids in the vocabulary; sentences are always valid), `z` finite, `temperature` finite and
  >= 0; `seed` takes any int64;
* an invalid row is replaced by zeros before the model sees it, so it cannot change or fail the
  others (their outputs are those of the valid rows alone: every computation is row-wise);
* its outputs are NaN (floats), 0 (integers) or "" (strings), and the extra output `error` [B]
  holds, per row, "" or the rule it broke ("x: BernoulliLikelihood needs values in [0, 1] (scale
  images by 1/255); this row has values in [0, 255]");
* a batch in which every row is invalid fails as a whole with `InvalidArgumentError` naming row 0's
  rule: a caller who sent only bad rows gets an error status, not a silent NaN answer. (A batch of
  only bad rows can only hold bad requests and empty ones, so an empty request batched with nothing
  but bad rows shares that error.)

The REST and gRPC clients (`vae_zoo.serving.client`) raise `InvalidRowsError` naming each bad row.
"""

import tensorflow as tf

#: The extra output of every signature: "" or the broken rule, per row.
ERROR_OUTPUT = "error"


def _broadcast_rows(mask, tensor):
    """`mask` [B] reshaped to broadcast against `tensor` [B, ...]."""
    return tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([tf.rank(tensor) - 1], tf.int32)], axis=0))


def _input_errors(model, name, value, data_name):
    """`[B]` messages for one input: "" for the rows that satisfy its rule."""
    rows = tf.shape(value)[:1]
    if name == data_name:
        return model.serving_row_errors(value)
    if name == "z":
        finite = tf.reduce_all(tf.math.is_finite(tf.reshape(value, [rows[0], -1])), axis=1)
        return tf.where(finite, "", "z: values must be finite; this row has NaN or Inf")
    if name == "temperature":
        good = tf.logical_and(tf.math.is_finite(value), value >= 0)
        got = tf.strings.as_string(value, shortest=True)
        return tf.where(good, "", tf.strings.join(["temperature: must be finite and >= 0, got ", got]))
    return tf.fill(rows, "")


def _placeholder(tensor):
    return tf.zeros_like(tensor) if tensor.dtype != tf.string else tf.fill(tf.shape(tensor), "")


def _masked(output, valid):
    """`output` with the invalid rows' values replaced: NaN (floats), 0 (numbers), "" (strings)."""
    if output.dtype.is_floating:
        fill = tf.fill(tf.shape(output), tf.constant(float("nan"), output.dtype))
    else:
        fill = _placeholder(output)
    return tf.where(_broadcast_rows(valid, output), output, fill)


def row_errors(model, args, specs):
    """`[B]` strings: the first rule each row breaks over the signature's inputs, in order, or ""."""
    data_name = model.serving_data_spec().name
    errors = None
    for value, spec in zip(args, specs):
        found = _input_errors(model, spec.name, value, data_name)
        errors = found if errors is None else tf.where(tf.equal(errors, ""), found, errors)
    return errors


def isolated(model, fn, specs):
    """`fn` (a signature function of `model` with inputs `specs`) with per-row validity: invalid rows
    masked and reported in the `error` output, the batch refused only when no row is valid."""

    def run(*args):
        errors = row_errors(model, args, specs)
        valid = tf.equal(errors, "")
        rows = tf.shape(valid)[0]
        first = tf.strings.reduce_join(errors[:1])
        check = tf.debugging.Assert(
            tf.logical_or(tf.equal(rows, 0), tf.reduce_any(valid)),
            [tf.strings.join(["every row of the request is invalid; row 0: ", first])],
        )
        with tf.control_dependencies([check]):
            safe = [tf.where(_broadcast_rows(valid, a), a, _placeholder(a)) for a in args]
        outputs = {key: _masked(value, valid) for key, value in fn(*safe).items()}
        if ERROR_OUTPUT in outputs:
            raise ValueError(
                f"a signature of {type(model).__name__} already has an output named {ERROR_OUTPUT!r}"
            )
        outputs[ERROR_OUTPUT] = errors
        return outputs

    return run
