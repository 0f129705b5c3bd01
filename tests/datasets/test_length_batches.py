"""Length-grouped batches: each row once an epoch, the stated number of batches, each paying its rows."""

import numpy as np
import pytest

from vae_zoo.datasets.length_batches import length_grouped_batches, length_sorted_batches, token_lengths


def _tokens(rows=128 * 20 + 37, positions=32, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, positions + 1, rows)
    tokens = np.zeros([rows, positions], np.int32)
    for i, n in enumerate(lengths):
        tokens[i, :n] = rng.integers(1, 1000, n)
    tokens[:, 0] = np.arange(rows) + 1  # the first token names the row
    return tokens


def _used(batch):
    return int((batch != 0).sum(axis=1).max())


def test_grouped_batches_use_every_row_once_and_pay_for_their_own_length():
    tokens = _tokens()
    ds = length_grouped_batches(tokens, 128, seed=3, pool=8)
    assert int(ds.cardinality()) == len(tokens) // 128
    epochs = [list(ds.as_numpy_iterator()) for _ in range(2)]
    for batches in epochs:
        assert len(batches) == len(tokens) // 128 and all(b.shape == (128, 32) for b in batches)
        names = np.concatenate([b[:, 0] for b in batches])
        assert len(set(names)) == len(names) == 128 * (len(tokens) // 128)  # each row at most once
    # Reshuffled every epoch; the same seed gives the same stream.
    assert not np.array_equal(epochs[0][0], epochs[1][0])
    again = next(length_grouped_batches(tokens, 128, seed=3, pool=8).as_numpy_iterator())
    np.testing.assert_array_equal(again, epochs[0][0])
    # Random batches of uniform lengths 1..32 almost all reach 32; grouped ones pay ~ their rows' length.
    grouped = np.mean([_used(b) for b in epochs[0]])
    plain = np.mean([_used(tokens[i : i + 128]) for i in range(0, len(tokens) - 127, 128)])
    mean_length = token_lengths(tokens).mean()
    assert plain > 31 and grouped < mean_length + 4, (plain, grouped, mean_length)


def test_sorted_batches_keep_every_row_in_length_order():
    tokens = _tokens(rows=300)
    batches = list(length_sorted_batches(tokens, 128).as_numpy_iterator())
    assert [len(b) for b in batches] == [128, 128, 44]
    rows = np.concatenate(batches)
    assert sorted(rows[:, 0]) == sorted(tokens[:, 0])
    assert np.all(np.diff(token_lengths(rows)) >= 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="integer array"):
        length_grouped_batches(np.zeros([4, 3], np.float32), 2)
    with pytest.raises(ValueError, match="batch_size and pool must be >= 1"):
        length_grouped_batches(_tokens(rows=10), 0)
