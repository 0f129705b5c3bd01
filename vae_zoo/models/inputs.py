"""Input preparation and checks: what every VAE does to data before its networks see it.

`InputsMixin` turns user inputs (`(x, y)` tuples, numpy, uint8, a missing
channel axis) into the float32 (or int32 token) tensors the networks take,
and refuses bad input with a `ValueError` that says what was expected: wrong
shapes, wrong dtypes, NaN/Inf, values outside the likelihood's data range.
Inside a graph the same checks are assertions (`InvalidArgumentError` with
the same message).
"""

import numpy as np
import tensorflow as tf

_FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
_INT_DTYPES = (tf.int8, tf.int16, tf.int32, tf.int64, tf.uint16, tf.uint32)


def check_array(array, low_high, nan_msg, range_msg):
    """Raises ValueError when a numpy array has NaN/Inf or leaves `low_high`."""
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{nan_msg}: {int((~finite).sum())} of {array.size} values are not finite")
    if low_high is not None and array.size:
        low, high = float(array.min()), float(array.max())
        if low < low_high[0] or high > low_high[1]:
            raise ValueError(f"{range_msg}; got values in [{low:g}, {high:g}]")


def check_num_samples(num_samples, name="num_samples"):
    """`num_samples` as given, refused when < 1: a Python int or eager tensor raises ValueError;
    a graph tensor (an exported signature's input) gets an assertion with the same message."""
    message = f"{name} must be >= 1"
    if isinstance(num_samples, bool):
        raise ValueError(f"{message}, got {num_samples!r}")
    if isinstance(num_samples, (int, np.integer)):
        if num_samples < 1:
            raise ValueError(f"{message}, got {num_samples!r}")
        return int(num_samples)
    if isinstance(num_samples, float):
        raise ValueError(f"{name} must be an integer >= 1, got {num_samples!r}")
    tensor = tf.convert_to_tensor(num_samples)
    if not tensor.dtype.is_integer:
        raise ValueError(f"{name} must be an integer >= 1, got a {tensor.dtype.name} tensor")
    if tensor.shape.rank not in (None, 0):
        raise ValueError(f"{name} must be a scalar, got shape {tensor.shape}")
    if tf.executing_eagerly():
        if int(tensor.numpy()) < 1:
            raise ValueError(f"{message}, got {int(tensor.numpy())}")
        return tensor
    check = tf.debugging.assert_greater_equal(
        tf.cast(tensor, tf.int64), tf.constant(1, tf.int64), message=message
    )
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


def _row_extremes(flat, empty_low, empty_high):
    """Per-row minimum and maximum of `[B, N]` (an empty row gets `empty_low`, `empty_high`)."""
    if flat.shape[1] == 0:
        rows = tf.shape(flat)[:1]
        return tf.fill(rows, tf.cast(empty_low, flat.dtype)), tf.fill(rows, tf.cast(empty_high, flat.dtype))
    return tf.reduce_min(flat, axis=1), tf.reduce_max(flat, axis=1)


def _row_messages(bad, message, row_low, row_high):
    """`message` + "low, high]" for the `bad` rows, "" for the others."""

    def text(values):
        return (
            tf.strings.as_string(values, shortest=True)
            if values.dtype.is_floating
            else tf.strings.as_string(values)
        )

    low, high = text(row_low), text(row_high)
    return tf.where(bad, tf.strings.join([message, low, ", ", high, "]"]), "")


class InputsMixin:
    """Input handling of `VAE`; uses `self.data_shape`, `self.likelihood` and `self.validate_inputs`."""

    def _expected(self):
        return f"(batch, {', '.join(map(str, self.data_shape))})"

    def _check_shape(self, shape):
        expected = self.data_shape
        actual = tuple(shape[1:]) if shape.rank else ()
        if shape.rank == len(expected) and expected[-1] == 1 and self._compatible(actual + (1,), expected):
            return "expand"
        if shape.rank != len(expected) + 1 or not self._compatible(actual, expected):
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape {self._expected()}, "
                f"got {tuple(shape.as_list()) if shape.rank is not None else 'unknown rank'}"
            )
        return "ok"

    @staticmethod
    def _compatible(actual, expected):
        return len(actual) == len(expected) and all(a is None or a == e for a, e in zip(actual, expected))

    def prepare_inputs(self, x):
        """Unpacks `(x, y)`, checks the shape and converts to the model's dtype.

        Images: float inputs are cast to float32 and must lie in [0, 1] when the
        likelihood needs it; uint8 inputs are divided by 255 in the graph; a
        missing trailing channel of size 1 is added. Token models take ints.
        NaN/Inf and out-of-range values raise `ValueError` when called eagerly
        (and `InvalidArgumentError` with the same message inside a graph).
        """
        if isinstance(x, (tuple, list)):
            x = x[0]
        x = tf.convert_to_tensor(x)
        if self._check_shape(x.shape) == "expand":
            x = x[..., None]
        dtype = x.dtype
        if self.likelihood.integer_events:
            if dtype not in _INT_DTYPES + (tf.uint8,):
                raise ValueError(f"{type(self).__name__} expects integer token ids, got dtype {dtype.name}")
            return tf.cast(x, tf.int32)
        if dtype == tf.uint8:
            return tf.cast(x, tf.float32) / 255.0
        if dtype == tf.bool:
            return tf.cast(x, tf.float32)
        if dtype not in _FLOAT_DTYPES:
            raise ValueError(
                f"{type(self).__name__} expects float images in [0, 1] or uint8 images in [0, 255], "
                f"got dtype {dtype.name}"
            )
        x = tf.cast(x, tf.float32)
        if self.validate_inputs:
            x = self._check_values(x)
        return x

    def _value_errors(self):
        low_high = self.likelihood.data_range
        name = type(self.likelihood).__name__
        range_msg = None
        if low_high is not None:
            range_msg = (
                f"{name} needs input values in [{low_high[0]:g}, {low_high[1]:g}] "
                "(scale images by 1/255 or pass uint8)"
            )
        return low_high, "input contains NaN or Inf values", range_msg

    def _check_values(self, x):
        low_high, nan_msg, range_msg = self._value_errors()
        if tf.executing_eagerly():
            check_array(x.numpy(), low_high, nan_msg, range_msg)
            return x
        # One pass decides finiteness in the common case: the sum is finite unless a value is
        # NaN/Inf or the sum overflows; only then is every value tested (CheckNumerics over the
        # whole batch was most of these checks' time, benchmarks/README.md).
        total = tf.reduce_sum(x)
        finite = tf.cond(
            tf.math.is_finite(total), lambda: tf.constant(True), lambda: tf.reduce_all(tf.math.is_finite(x))
        )
        checks = [tf.debugging.Assert(finite, [nan_msg])]
        if low_high is not None:
            low, high = tf.reduce_min(x), tf.reduce_max(x)
            in_range = tf.logical_and(low >= low_high[0], high <= low_high[1])
            checks.append(
                tf.debugging.Assert(tf.logical_or(in_range, tf.logical_not(finite)), [range_msg, low, high])
            )
        with tf.control_dependencies(checks):
            return tf.identity(x)

    def serving_row_errors(self, data):
        """`[B]` strings for served `data` (the signatures' data input): "" for a row the model can
        take, else the rule the row breaks, naming the input and echoing the row's values.

        The exported signatures test each row with this (`vae_zoo/export/row_isolation.py`), so one
        bad row never fails or changes the other rows of a batch. With `validate_inputs=False` no
        row is refused, as in `prepare_inputs`.
        """
        rows = tf.shape(data)[0]
        if data.dtype == tf.string or not self.validate_inputs:
            return tf.fill([rows], "")
        name = self.serving_data_spec().name
        flat = tf.reshape(data, [rows, -1])
        if data.dtype.is_integer:
            low, high = self.likelihood.data_range
            row_low, row_high = _row_extremes(flat, data.dtype.min, data.dtype.max)
            bad = tf.logical_or(row_low < low, row_high > high)
            message = f"{name}: token ids must be in [{low}, {high}]; this row has ids in ["
            return _row_messages(bad, message, row_low, row_high)
        finite = tf.reduce_all(tf.math.is_finite(flat), axis=1)
        errors = tf.where(finite, "", f"{name}: values must be finite; this row has NaN or Inf")
        low_high = self.likelihood.data_range
        if low_high is None:
            return errors
        row_low, row_high = _row_extremes(flat, np.inf, -np.inf)
        outside = tf.logical_and(finite, tf.logical_or(row_low < low_high[0], row_high > low_high[1]))
        message = (
            f"{name}: {type(self.likelihood).__name__} needs values in [{low_high[0]:g}, {low_high[1]:g}] "
            "(scale images by 1/255); this row has values in ["
        )
        return tf.where(outside, _row_messages(outside, message, row_low, row_high), errors)

    def _validate_numpy(self, x):
        """Eager checks of numpy inputs to `fit`/`evaluate`/`predict` (raise ValueError)."""
        if isinstance(x, (tuple, list)) and x and isinstance(x[0], np.ndarray):
            x = x[0]
        if not isinstance(x, np.ndarray):
            return
        self._check_shape(tf.TensorShape(x.shape))
        if self.validate_inputs and x.dtype.kind == "f":
            low_high, nan_msg, range_msg = self._value_errors()
            check_array(x, low_high, nan_msg, range_msg)
