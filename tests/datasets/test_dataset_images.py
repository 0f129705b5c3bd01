"""Tests of `vae_zoo.datasets.images`: splits, batching, shuffling, binarization."""

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import datasets

from dataset_testing import needs_fashion, write_idx_dir


@needs_fashion
def test_fashion_split_sizes_and_validation_is_the_end_of_train(fashion):
    sizes = {}
    for split in datasets.SPLITS:
        x, y = datasets.load_arrays("fashion_mnist", split, verbose=False)
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
        assert y.dtype == np.int64 and y.shape == (len(x),)
        sizes[split] = len(x)
        if split == "train":
            np.testing.assert_array_equal(x, fashion["x_train"][:55000])
        elif split == "validation":
            np.testing.assert_array_equal(x, fashion["x_train"][55000:])
            np.testing.assert_array_equal(y, fashion["y_train"][55000:])
        elif split == "test":
            np.testing.assert_array_equal(x, fashion["x_test"])
    assert sizes == {"train": 55000, "validation": 5000, "test": 10000, "all": 70000}

    x, _ = datasets.load_arrays("fashion_mnist", "validation", validation_size=1000, verbose=False)
    np.testing.assert_array_equal(x, fashion["x_train"][59000:])


@needs_fashion
def test_labels_and_conversion_match_the_arrays(fashion):
    ds = datasets.load("fashion_mnist", "test", batch_size=100, with_labels=True, verbose=False)
    x, y = next(iter(ds))  # the test split is not shuffled by default
    assert y.dtype == tf.int64 and y.shape == (100,)
    np.testing.assert_array_equal(y.numpy(), fashion["y_test"][:100])
    np.testing.assert_allclose(x.numpy()[..., 0], fashion["x_test"][:100] / 255.0, atol=1e-6)


@needs_fashion
def test_train_split_is_shuffled_reproducibly_and_reshuffled_each_epoch(fashion):
    def first_labels(ds):
        return next(iter(ds))[1].numpy()

    ds = datasets.load("fashion_mnist", batch_size=64, with_labels=True, verbose=False)
    epoch1, epoch2 = first_labels(ds), first_labels(ds)
    assert not np.array_equal(epoch1, fashion["y_train"][:64])
    assert not np.array_equal(epoch1, epoch2)
    again = datasets.load("fashion_mnist", batch_size=64, with_labels=True, verbose=False)
    np.testing.assert_array_equal(first_labels(again), epoch1)

    unshuffled = datasets.load("fashion_mnist", batch_size=64, with_labels=True, shuffle=False, verbose=False)
    np.testing.assert_array_equal(first_labels(unshuffled), fashion["y_train"][:64])


@needs_fashion
def test_unbatched_and_drop_remainder():
    ds = datasets.load("fashion_mnist", "validation", batch_size=None, verbose=False)
    assert ds.element_spec.shape == (28, 28, 1)
    ds = datasets.load("fashion_mnist", "validation", batch_size=128, drop_remainder=True, verbose=False)
    assert ds.element_spec.shape == (128, 28, 28, 1)
    assert sum(1 for _ in ds) == 5000 // 128


@needs_fashion
def test_static_binarization_is_binary_deterministic_and_unbiased(fashion):
    def batch(seed):
        ds = datasets.load(
            "fashion_mnist",
            "validation",
            binarize="static",
            batch_size=5000,
            seed=seed,
            verbose=False,
        )
        return next(iter(ds)).numpy()

    first, second, other_seed = batch(0), batch(0), batch(1)
    assert set(np.unique(first)) == {0.0, 1.0}
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other_seed)
    gray = fashion["x_train"][55000:].mean() / 255.0
    assert abs(first.mean() - gray) < 0.002  # the sampling std is ~0.0002

    x, _ = datasets.load_arrays("fashion_mnist", "validation", binarize="static", verbose=False)
    np.testing.assert_array_equal(x / 255.0, first[..., 0])
    # The same image gets the same bits whichever split it is read from.
    x_all, _ = datasets.load_arrays("fashion_mnist", "all", binarize="static", verbose=False)
    np.testing.assert_array_equal(x_all[55000:60000], x)


@needs_fashion
def test_dynamic_binarization_redraws_every_epoch_reproducibly(fashion):
    def epochs(seed, shuffle=False, n=2):
        ds = datasets.load(
            "fashion_mnist",
            "validation",
            binarize="dynamic",
            batch_size=1000,
            seed=seed,
            shuffle=shuffle,
            verbose=False,
        )
        return [next(iter(ds)).numpy() for _ in range(n)]

    epoch1, epoch2 = epochs(seed=0)
    assert set(np.unique(epoch1)) == {0.0, 1.0}
    assert not np.array_equal(epoch1, epoch2)
    assert np.mean(epoch1 != epoch2) > 0.01
    gray = fashion["x_train"][55000:56000].mean() / 255.0
    assert abs(epoch1.mean() - gray) < 0.01 and abs(epoch2.mean() - gray) < 0.01

    again1, again2 = epochs(seed=0)
    np.testing.assert_array_equal(again1, epoch1)
    np.testing.assert_array_equal(again2, epoch2)
    assert not np.array_equal(epochs(seed=1, n=1)[0], epoch1)

    shuffled = epochs(seed=3, shuffle=True)
    for a, b in zip(shuffled, epochs(seed=3, shuffle=True)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"binarize": "sometimes"}, r"'static', 'dynamic'"),
        ({"binarize": True}, r"None, 'static', 'dynamic'"),
        ({"split": "dev"}, r"'train', 'validation', 'test', 'all'"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_size": 60}, "validation_size=60"),
        ({"split": "validation", "validation_size": 0}, "validation split empty"),
    ],
)
def test_invalid_arguments_raise_value_error(tmp_path, kwargs, pattern):
    write_idx_dir(tmp_path)
    with pytest.raises(ValueError, match=pattern):
        datasets.load(tmp_path, **{"verbose": False, **kwargs})


def test_dynamic_binarization_draws_each_pixel_with_its_intensity():
    """P(1) = pixel / 255 per pixel: 0 never, 255 always, the levels between at their rate (a threshold
    of 256 * pixel, or forgetting pixel 255, would give 255 a 1/256 chance of 0)."""
    from vae_zoo.datasets import images

    levels = np.array([0, 1, 64, 128, 254, 255], "uint8")
    batch = np.tile(levels, (40000, 1))
    bits = images._bernoulli(tf.constant(batch), tf.constant(7, tf.int64)).numpy()
    assert set(np.unique(bits)) <= {0.0, 1.0}
    assert bits[:, 0].max() == 0.0 and bits[:, -1].min() == 1.0
    np.testing.assert_allclose(bits.mean(axis=0), levels / 255.0, atol=0.006)
    again = images._bernoulli(tf.constant(batch), tf.constant(7, tf.int64)).numpy()
    assert np.array_equal(bits, again) and not np.array_equal(
        bits, images._bernoulli(tf.constant(batch), tf.constant(8, tf.int64)).numpy()
    )


def test_autotune_is_off_unless_asked_and_only_a_bool():
    # tf.data's autotune thread held each epoch's iterator teardown for up to ~2 s on this machine
    assert datasets.load("fashion_mnist", split="test", verbose=False).options().autotune.enabled is False
    assert (
        datasets.load("fashion_mnist", split="test", batch_size=None, verbose=False)
        .options()
        .autotune.enabled
        is False
    )
    assert datasets.load("wordnet_sentences", split="test", verbose=False).options().autotune.enabled is False
    assert (
        datasets.load("fashion_mnist", split="test", autotune=True, verbose=False).options().autotune.enabled
        is True
    )
    with pytest.raises(ValueError, match="autotune must be True or False, got 'yes'"):
        datasets.load("fashion_mnist", split="test", autotune="yes", verbose=False)
