"""Publishes a finished image-model run as a preset: weights, SHA-256, measured metrics, registry entry.

    python -m vae_zoo.training.publish RUN_DIR NAME --description "..." [--num-samples 5000]

Measures on the Fashion-MNIST-style test split, binarized once with the
run's seed (as in training): the importance-weighted NLL with
`--num-samples` samples over the whole split, and the test -ELBO, KL and
reconstruction over the whole split and over its first 1,000 examples (the
subset the tests re-measure). Writes
`vae_zoo/presets/weights/NAME.weights.h5` and the entry in
`vae_zoo/presets/registry.json`.
"""

import argparse
import json
import os
import sys
import time

SUBSET = 1000


def measure(model, x, num_samples, seed):
    """Test metrics of `model` on prepared images `x` (float32 in {0, 1})."""
    from vae_zoo import evaluation

    def elbo_terms(images):
        logs = model.evaluate(images, batch_size=500, verbose=0, return_dict=True)
        return {"negative_elbo": -logs["elbo"], "kl": logs["kl"], "reconstruction": logs["reconstruction"]}

    start = time.time()
    nll = -evaluation.log_likelihood(model, x, num_samples=num_samples, seed=seed).mean()
    full, subset = elbo_terms(x), elbo_terms(x[:SUBSET])
    return {
        "test_nll": float(nll),
        "test_nll_num_samples": num_samples,
        "test_negative_elbo": full["negative_elbo"],
        "test_kl": full["kl"],
        "test_reconstruction": full["reconstruction"],
        f"test_first_{SUBSET}_negative_elbo": subset["negative_elbo"],
        "evaluation_seconds": round(time.time() - start, 1),
    }


def save_weights(model, path):
    """Saves the model's weights only (no optimizer state): a fresh, uncompiled copy holds them."""
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    clone.save_weights(path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("--description", required=True)
    parser.add_argument("--recipe", required=True, help="the recipe that produced the run (training/recipes/...)")
    parser.add_argument("--num-samples", type=int, default=5000)
    args = parser.parse_args(argv)

    import yaml

    from vae_zoo import datasets, presets
    from vae_zoo.loading import load_model
    from vae_zoo.version import __version__

    config = yaml.safe_load(open(os.path.join(args.run_dir, "config.yaml")))
    run_metrics = json.load(open(os.path.join(args.run_dir, "metrics.json")))
    model = load_model(args.run_dir)
    x, _ = datasets.load_arrays(config["dataset"], split="test", binarize="static", seed=config["seed"])
    x = model.prepare_inputs(x).numpy()
    metrics = measure(model, x, args.num_samples, config["seed"])

    os.makedirs(presets.WEIGHTS_DIR, exist_ok=True)
    filename = f"{args.name}.weights.h5"
    path = os.path.join(presets.WEIGHTS_DIR, filename)
    save_weights(model, path)
    entry = {
        "description": args.description,
        "model_class": type(model).__name__,
        "config": model.get_config(),
        "dataset": config["dataset"],
        "preprocessing": {"train_binarize": config["binarize"], "test_binarize": "static", "seed": config["seed"]},
        "recipe": args.recipe,
        "train_command": f"vae-zoo train --config {args.recipe}",
        "train_seconds": run_metrics.get("train_seconds_this_session"),
        "weights": {"file": filename, "sha256": presets.sha256(path), "url": None, "bytes": os.path.getsize(path)},
        "metrics": metrics,
        "evaluation_command": (
            f"python -m vae_zoo.training.publish RUN_DIR {args.name} --recipe {args.recipe} "
            f"--num-samples {args.num_samples} --description ..."
        ),
        "data_license": "MIT (Fashion-MNIST, Zalando Research)" if "fashion" in config["dataset"] else "see the dataset",
        "vae_zoo_version": __version__,
    }
    registry = presets.registry() if os.path.exists(presets.REGISTRY_FILE) else {}
    registry[args.name] = entry
    with open(presets.REGISTRY_FILE, "w") as f:
        json.dump(registry, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps({args.name: metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
