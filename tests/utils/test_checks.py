"""`vae_zoo.utils.checks.is_integer`: the one test of an integer setting across vae-zoo."""

import numpy as np
import pytest

from vae_zoo.utils.checks import is_integer


@pytest.mark.parametrize("value", [0, 3, np.int64(3), np.int32(-2)])
def test_integers(value):
    assert is_integer(value)


@pytest.mark.parametrize("value", [True, False, 3.0, 2.5, "3", None, np.float32(3), np.array([3])])
def test_not_integers(value):  # a bool is an int to Python, and 3.0 silently truncates elsewhere
    assert not is_integer(value)


def test_minimum():
    assert is_integer(2, 2) and not is_integer(1, 2) and is_integer(-5) and not is_integer(-1, 0)
