"""Real-valued sequences `[T, F]` (the sequence family with `features=F`, a Gaussian likelihood).

A series is cut into windows of `max_length` steps (stride 1); its split is by time, so no
window of a later split overlaps an earlier one, and values are standardized with the
training years' mean and standard deviation (recorded in the run's preprocessing).

The built-in series, `sunspots`: the yearly mean total sunspot number, 1700-2008 (309 values,
SIDC / Royal Observatory of Belgium via the classic R/statsmodels dataset), read from the
`sunspots.csv` that the `statsmodels` wheel ships (`pip install statsmodels`, or
`pip install vae-zoo[series]`; statsmodels itself is never imported, nothing is downloaded at
run time). Splits: train 1700-1919 (220 years), validation 1920-1964 (45), test 1965-2008 (44).
"""

import importlib.util
import os

import numpy as np

from vae_zoo.kinds.registry import DataKind, register_kind
from vae_zoo.utils.checks import is_integer

#: name -> (statsmodels dataset folder, csv file, value columns, first years of validation and test)
SERIES = {"sunspots": ("sunspots", "sunspots.csv", ("SUNACTIVITY",), (1920, 1965))}
SPLITS = ("train", "validation", "test")


def _csv_path(name):
    spec = importlib.util.find_spec("statsmodels")  # finds the package without importing it (or pandas)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"series {name!r} is read from the statsmodels package's data files, "
            "and statsmodels is not installed: "
            "pip install statsmodels (or vae-zoo[series])"
        )
    folder, filename, _, _ = SERIES[name]
    return os.path.join(os.path.dirname(spec.origin), "datasets", folder, filename)


def load_series(name, split):
    """`(years [N], values [N, F] float32)` of one split ("train", "validation", "test")
    of a named series, raw."""
    if name not in SERIES:
        raise ValueError(f"Unknown series {name!r}. Valid: {', '.join(SERIES)}.")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    _, _, columns, (validation_start, test_start) = SERIES[name]
    table = np.genfromtxt(_csv_path(name), delimiter=",", names=True, dtype="float64")
    years = table[table.dtype.names[0]]
    values = np.stack([table[column] for column in columns], axis=-1).astype("float32")
    start, stop = {"train": (-np.inf, validation_start), "validation": (validation_start, test_start)}.get(
        split, (test_start, np.inf)
    )
    keep = (years >= start) & (years < stop)
    return years[keep], values[keep]


def standardization(name):
    """`(mean [F], std [F])` of the training split: every split is standardized with them."""
    _, values = load_series(name, "train")
    return values.mean(axis=0), values.std(axis=0)


def windows(name, split, length):
    """Standardized windows `[N, length, F]` (float32, stride 1) of one split;
    refuses a split shorter than `length`."""
    if not is_integer(length, 1):
        raise ValueError(f"max_length (the window length) must be a positive integer, got {length!r}")
    _, values = load_series(name, split)
    if len(values) < length:
        raise ValueError(
            f"series {name!r} [{split}] has {len(values)} steps, "
            f"fewer than one window of max_length={length}; "
            "give a smaller --max-length"
        )
    mean, std = standardization(name)
    values = (values - mean) / std
    return np.stack([values[i : i + length] for i in range(len(values) - length + 1)]).astype("float32")


@register_kind("series")
class Series(DataKind):
    settings = {"max_length": 32}  # window length in steps (shared with sentences' tokens per sentence)
    datasets = tuple(SERIES)

    def training_data(self, config, verbose=False):
        import tensorflow as tf

        length, batch = config["max_length"], config["batch_size"]
        train, validation = (windows(config["dataset"], split, length) for split in ("train", "validation"))
        if len(train) < batch:
            raise ValueError(
                f"series {config['dataset']!r} has {len(train)} training windows "
                f"of {length} steps, fewer than "
                f"batch_size={batch}: give a --batch-size of at most {len(train)}"
            )
        if verbose:
            print(
                f"vae_zoo.training: {config['dataset']}: {len(train)} train, "
                f"{len(validation)} validation windows"
            )
        ds = tf.data.Dataset.from_tensor_slices(train)
        ds = ds.shuffle(len(train), seed=config["seed"], reshuffle_each_iteration=True)
        ds = ds.batch(batch, drop_remainder=True)
        if config["steps_per_epoch"]:
            ds = ds.take(config["steps_per_epoch"])
        splits = {
            "train": ds.prefetch(tf.data.AUTOTUNE),
            "validation": tf.data.Dataset.from_tensor_slices(validation).batch(batch),
            "train_eval": tf.data.Dataset.from_tensor_slices(train).batch(batch),
        }
        return splits, {"max_length": length, "features": int(train.shape[-1])}

    def write_run_outputs(self, model, validation, run_dir, seed):
        """`samples.csv` (8 prior samples) and `reconstructions.csv` (8 validation windows, each followed by
        its reconstruction): one row a window, its `[T, F]` values flattened, in standardized units."""
        x = next(iter(validation.unbatch().batch(8))).numpy()
        samples = np.asarray(model.sample(8, seed=seed))
        pairs = np.stack([x, np.asarray(model.reconstruct(x))], axis=1).reshape(-1, *x.shape[1:])
        for name, values in (("samples.csv", samples), ("reconstructions.csv", pairs)):
            np.savetxt(
                os.path.join(run_dir, name), values.reshape(len(values), -1), delimiter=",", fmt="%.5f"
            )

    def load_split(self, model, dataset, split="test", binarize=None, seed=0, data_dir=None):
        return windows(dataset, split, int(model.data_shape[0]))

    card_unit = "window"

    def describes_entry(self, entry):
        return "split_by_time" in entry["preprocessing"]

    def preprocessing(self, model, config):
        mean, std = standardization(config["dataset"])
        _, _, _, (validation_start, test_start) = SERIES[config["dataset"]]
        return {
            "windows": f"{config['max_length']} steps, stride 1",
            "split_by_time": {"validation_from": validation_start, "test_from": test_start},
            "standardization": {"mean": mean.tolist(), "std": std.tolist()},
            "seed": config["seed"],
        }
