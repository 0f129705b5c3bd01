"""`vae-zoo zoo reproduce NAME`: an entry's protocol from its recipe, end to end on a tiny recipe."""

import json

import numpy as np
import pytest

from vae_zoo import cli, datasets, evaluation, presets
from vae_zoo.presets import load_model

RECIPE = {
    "model": "dense",
    "model_kwargs": {"hidden_units": [8]},
    "latent_dim": 2,
    "binarize": "dynamic",
    "validation_size": 100,
    "epochs": 1,
    "steps_per_epoch": 5,
    "batch_size": 32,
    "tensorboard": False,
    "jit_compile": False,  # no XLA compile: a few steps of a tiny model
    "seed": 3,
}


def _small_fashion_mnist(path):
    """600 training and 200 test images of Fashion-MNIST as a local .npz dataset (the whole split takes
    minutes)."""
    train, _ = datasets.load_arrays("fashion_mnist", split="train", binarize=None)
    test, _ = datasets.load_arrays("fashion_mnist", split="test", binarize=None)
    np.savez(path, x_train=train[:600], x_test=test[:200])
    return str(path)


def test_reproduce_trains_each_seed_selects_on_validation_and_measures_test_once(tmp_path):
    data = _small_fashion_mnist(tmp_path / "fashion.npz")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps({**RECIPE, "dataset": data, "out": str(tmp_path / "never_used")}))
    source = tmp_path / "source.json"
    measured = {"test_nll_num_samples": 2, "test_nll_num_examples": 30, "mutual_information_num_examples": 20}
    choices = {
        "training_seeds": [3, 4],
        "selected_on_validation": ["hidden 8 over 16 (validation -ELBO)"],
        "test_informed_choices": ["none"],
    }
    tiny = {"recipe": str(recipe), "description": "a tiny DenseVAE", "metrics": measured, "protocol": choices}
    source.write_text(json.dumps({"tiny": tiny}))
    shipped = open(presets.REGISTRY_FILE).read()
    out = tmp_path / "zoo" / "registry.json"
    argv = ["zoo", "reproduce", "tiny", "--source-registry", str(source), "--registry", str(out)]
    argv += ["--runs-dir", str(tmp_path / "runs"), "--binarization-seeds", "0", "1", "--verbose", "0"]
    assert cli.main(argv) == 0
    assert open(presets.REGISTRY_FILE).read() == shipped
    entry = presets.entry("tiny", str(out))
    p, m = entry["protocol"], entry["metrics"]
    assert p["training_seeds"] == [3, 4] and p["test_binarization_seeds"] == [0, 1, 3]
    assert p["test_evaluations"] == 1 and p["selected_on_validation"] == choices["selected_on_validation"]
    assert p["run_selection"] == "no early stopping: the recipe's fixed budget of 1 epochs, final weights"
    assert p["estimator"]["num_samples"] == 2 and p["estimator"]["num_examples"] == 30
    # the training runs hold train and validation figures; test evaluations only as counted records
    runs = {seed: tmp_path / "runs" / "tiny" / f"seed_{seed}" for seed in (3, 4)}
    for seed, run in runs.items():
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["config"]["seed"] == seed and set(metrics["validation"]) >= {"negative_elbo", "kl"}
        assert [key for key in metrics if key.startswith("test")] == ["test_evaluations"]
        assert len(metrics["test_evaluations"]) == 1
    # the other seed's NLL: its own weights on the published entry's test examples and binarization (seed 3)
    x, _ = datasets.load_arrays(data, split="test", binarize="static", seed=3)
    x = (x[:30].reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    ll = evaluation.log_likelihood(load_model(str(runs[4])), x, num_samples=2, seed=3, progress=False)
    by_seed = m["test_nll_by_training_seed"]
    assert by_seed["values"]["4"] == pytest.approx(-ll.mean(), rel=1e-6)
    assert by_seed["values"]["3"] == pytest.approx(m["test_nll"], rel=1e-6)
    assert by_seed["sd"] == pytest.approx(np.std([m["test_nll"], -ll.mean()], ddof=1), rel=1e-5)
    assert set(m["test_nll_by_binarization_seed"]["values"]) == {"0", "1", "3"}
    card = (out.parent / "model_cards" / "tiny.md").read_text()
    assert "## Protocol" in card and "training seed(s): 3, 4" in card and "NLL over training seeds" in card
