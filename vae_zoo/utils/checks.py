"""Argument checks shared across vae-zoo: what counts as an integer setting."""

import numpy as np


def is_integer(value, minimum=None):
    """Whether `value` is an integer (a Python or NumPy int, not a bool, a float or a string), and at least
    `minimum` when one is given. The callers raise their own ValueError, naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return False
    return minimum is None or value >= minimum
