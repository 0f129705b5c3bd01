"""Publishes a finished run as a preset: weights, SHA-256, measured metrics, registry entry.

    python -m vae_zoo.training.publish RUN_DIR NAME --recipe training/recipes/NAME.yaml \\
        --description "..." [--num-samples 5000] [--nll-examples N]

Measures on the test split the entry states (`vae_zoo.evaluation.preset_data`):
images binarized once with the run's seed (as in training), sentences
tokenized with the model's vocabulary. With `vae_zoo.evaluation.evaluate_model`
it records the importance-weighted NLL with `--num-samples` samples (over the
first `--nll-examples` examples, default all), the ELBO terms, KL per
dimension, active units and mutual information, plus perplexity for
sentences. The test -ELBO, KL and reconstruction over the whole split and the
-ELBO over its first 1,000 examples (the subset the tests re-measure) come
from `model.evaluate`. Writes `NAME.weights.h5` into the `weights/` folder
beside the registry file it is told (`--registry`, e.g. the checkout's
`vae_zoo/presets/registry.json`) and the entry into that file; it refuses a
registry inside an installed package (site-packages).
"""

import argparse
import json
import os
import sys
import time

SUBSET = 1000
LICENSES = {
    "fashion_mnist": "MIT (Fashion-MNIST, Zalando Research)",
    "mnist": "CC BY-SA 3.0 (MNIST, LeCun, Cortes and Burges)",
    "wordnet_sentences": "WordNet 3.0 license (Princeton University), BSD-like",
}


def measure(model, x, num_samples, seed, nll_examples=None):
    """Test metrics of `model` on a prepared test split `x` (numpy)."""
    from vae_zoo import evaluation

    def elbo_terms(data):
        logs = model.evaluate(data, batch_size=500, verbose=0, return_dict=True)
        return {"negative_elbo": -logs["elbo"], "kl": logs["kl"], "reconstruction": logs["reconstruction"]}

    start = time.time()
    if model.optimizer is None:
        model.compile()
    nll_x = x if nll_examples is None else x[:nll_examples]
    report = evaluation.evaluate_model(model, nll_x, num_samples=num_samples, seed=seed)
    full, subset = elbo_terms(x), elbo_terms(x[:SUBSET])
    metrics = {
        "test_nll": report["negative_log_likelihood"],
        "test_nll_num_samples": num_samples,
        "test_nll_num_examples": report["num_examples"],
        "test_negative_elbo": full["negative_elbo"],
        "test_kl": full["kl"],
        "test_reconstruction": full["reconstruction"],
        f"test_first_{SUBSET}_negative_elbo": subset["negative_elbo"],
        "test_num_examples": int(len(x)),
        "active_units": report["active_units"],
        "mutual_information": report["mutual_information"],
        "kl_per_dimension": [round(v, 4) for v in report["kl_per_dimension"]] if report["kl_per_dimension"] else None,
    }
    if "perplexity" in report:
        metrics.update(perplexity=report["perplexity"], tokens=report["tokens"])
    metrics["evaluation_seconds"] = round(time.time() - start, 1)
    return metrics


def save_weights(model, path):
    """Saves the model's weights only (no optimizer state): a fresh, uncompiled copy holds them."""
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    clone.save_weights(path)
    return path


def preprocessing(config, model):
    """The entry's `preprocessing`: what `vae_zoo.evaluation.preset_data` needs to rebuild the test data."""
    if model.data_kind == "sentences":
        return {
            "tokenizer": "the model's TextCodec (lowercased, punctuation split)",
            "max_length": config["max_length"],
            "vocabulary_size": len(model.codec.vocabulary),
            "seed": config["seed"],
        }
    return {"train_binarize": config["binarize"], "test_binarize": "static" if config["binarize"] else None, "seed": config["seed"]}


def registry_path(path):
    """The registry file to write: `path` itself, or `path/registry.json` for a directory.

    Refuses a path inside an installed package: a preset is published into a
    checkout (or any folder) and shipped from there, never written into site-packages.
    """
    import sysconfig

    path = os.path.abspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "registry.json")
    installed = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    real = os.path.realpath(path)
    for root in installed:
        if real == root or real.startswith(root + os.sep):
            raise ValueError(
                f"--registry {path} is inside an installed package ({root}); publish into a checkout, "
                "e.g. --registry vae_zoo/presets/registry.json from the repository root"
            )
    if not os.path.isdir(os.path.dirname(path)):
        raise FileNotFoundError(f"--registry {path}: its folder does not exist")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("--description", required=True)
    parser.add_argument("--recipe", required=True, help="the recipe that produced the run (training/recipes/...)")
    parser.add_argument("--num-samples", type=int, default=5000, help="importance samples of the NLL estimate")
    parser.add_argument("--nll-examples", type=int, default=None, help="estimate the NLL on the first N test examples")
    parser.add_argument("--registry", required=True, help="the registry.json to write (weights go to weights/ beside it)")
    args = parser.parse_args(argv)
    registry_file = registry_path(args.registry)

    import yaml

    from vae_zoo import evaluation, presets
    from vae_zoo.presets import load_model
    from vae_zoo.utils.checksums import sha256
    from vae_zoo.version import __version__

    config = yaml.safe_load(open(os.path.join(args.run_dir, "config.yaml")))
    run_metrics = json.load(open(os.path.join(args.run_dir, "metrics.json")))
    model = load_model(args.run_dir)
    entry = {"dataset": config["dataset"], "preprocessing": preprocessing(config, model)}
    x = evaluation.preset_data(entry, model)
    metrics = measure(model, x, args.num_samples, config["seed"], args.nll_examples)

    weights_dir = os.path.join(os.path.dirname(registry_file), "weights")
    os.makedirs(weights_dir, exist_ok=True)
    filename = f"{args.name}.weights.h5"
    path = os.path.join(weights_dir, filename)
    save_weights(model, path)
    nll_flag = f" --nll-examples {args.nll_examples}" if args.nll_examples else ""
    entry.update({
        "description": args.description,
        "model_class": type(model).__name__,
        "config": model.get_config(),
        "recipe": args.recipe,
        "train_command": f"vae-zoo train --config {args.recipe}",
        "train_seconds": run_metrics.get("train_seconds_this_session"),
        "weights": {"file": filename, "sha256": sha256(path), "url": None, "bytes": os.path.getsize(path)},
        "metrics": metrics,
        "evaluation_command": (
            f"python -m vae_zoo.training.publish RUN_DIR {args.name} --registry REGISTRY --recipe {args.recipe} "
            f"--num-samples {args.num_samples}{nll_flag} --description ..."
        ),
        "data_license": LICENSES.get(config["dataset"], "see the dataset's own license"),
        "vae_zoo_version": __version__,
    })  # fmt: skip
    registry = presets.registry(registry_file) if os.path.exists(registry_file) else {}
    registry[args.name] = dict(sorted(entry.items()))
    with open(registry_file, "w") as f:
        json.dump(registry, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps({args.name: metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
