"""The tiny published entry that the publish and remeasure tests share, and runs of its recipe."""

import json
import shutil

import keras
import numpy as np
import yaml

from vae_zoo import datasets
from vae_zoo.models import DenseVAE
from vae_zoo.training import cards, publish

SEED = 5  # not 0, so a measurement on the wrong binarization shows
RECIPE = "training/recipes/dense_fashion_mnist_2d.yaml"
#: 784*8+8 (encoder) + 8*4+4 (posterior: z 2's loc, scale) + 2*8+8 (decoder) + 8*784+784 (Bernoulli logits)
TINY_PARAMETERS = 6280 + 36 + 24 + 7056
VALIDATION = {"negative_elbo": 550.0, "kl": 1.5, "reconstruction": 548.5, "loss": 550.0}


def binarized_test_images(seed):
    """The test split binarized once with `seed`, as publish and remeasure read it."""
    x, _ = datasets.load_arrays("fashion_mnist", split="test", binarize="static", seed=seed)
    return (x.reshape(-1, 28, 28, 1) / 255.0).astype("float32")


def publish_tiny(root):
    """A tiny untrained DenseVAE published from a run in `root` as `tiny` (k 3, first 40 examples,
    I(x; z) on 20), beside an `other` entry; returns `(registry path, model)`."""
    run = root / "run"
    run.mkdir()
    # shared fixtures are built before the autouse per-test seed: without this, the initial weights (and
    # the per-image spread test_publish_pairs_the_baseline_per_example compares with) depended on test order
    keras.utils.set_random_seed(0)
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    model.save(run / "model.keras")
    config = {"dataset": "fashion_mnist", "binarize": "dynamic", "seed": SEED, "epochs": 7}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "metrics.json").write_text(
        json.dumps({"train_seconds_this_session": 12.5, "validation": VALIDATION})
    )
    registry = root / "presets" / "registry.json"
    registry.parent.mkdir()
    other = {"description": "another entry", "metrics": {"test_nll": 1.0}, "weights": {"file": "none"}}
    registry.write_text(json.dumps({"other": other}))
    argv = publish_argv(run, registry)
    argv += [
        "--num-samples",
        "3",
        "--nll-examples",
        "40",
        "--mi-examples",
        "20",
        "--binarization-seeds",
        "0",
        "7",
    ]
    argv += ["--selected-on-validation", "latent_dim 2 over 4 (validation -ELBO)"]
    assert publish.main(argv) == 0
    return registry, model


def seed_run(path, seed, **changes):
    """A finished run of the tiny entry's recipe with training seed `seed` (its own weights)."""
    from vae_zoo.training import config as training_config

    path.mkdir()
    config = training_config.resolve(cards.recipe_path(RECIPE), {"seed": seed, "out": str(path), **changes})
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / "metrics.json").write_text(json.dumps({"validation": VALIDATION}))
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=seed)
    # weights of its own whatever the global random state (an untrained model's would repeat the entry's)
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0.0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])
    model.save(path / "model.keras")
    return model


def publish_argv(run, registry, *flags):
    """publish's command line for `run` as the entry `tiny` of `registry`, disclosing no test-informed
    choice (`--test-informed none`), then `flags`."""
    argv = [
        str(run),
        "tiny",
        "--registry",
        str(registry),
        "--recipe",
        RECIPE,
        "--description",
        "a tiny DenseVAE",
        "--test-informed",
        "none",
    ]
    return [*argv, *flags]


def copied_registry(source, folder):
    """A copy of the published registry `source` (and its weights) in `folder`; its registry path."""
    registry = folder / "presets" / "registry.json"
    shutil.copytree(source.parent, registry.parent)
    return registry


def copied_run(source, folder):
    """A copy in `folder` of the run that was published into `source`; its path."""
    run = folder / "run"
    shutil.copytree(source.parent.parent / "run", run)
    return run
