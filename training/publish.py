"""Publishes a finished run as a preset: weights, SHA-256, measured metrics, registry entry.

    python -m vae_zoo.training.publish RUN_DIR NAME --registry vae_zoo/presets/registry.json \\
        --recipe training/recipes/NAME.yaml --description "..." \\
        [--num-samples 5000] [--nll-examples N] [--mi-examples M]

Measures on the test split the entry states (`vae_zoo.evaluation.preset_data`):
images binarized once with the run's seed (as in training), sentences
tokenized with the model's vocabulary. With `vae_zoo.evaluation.evaluate_model`
it records the importance-weighted NLL with `--num-samples` samples (over the
first `--nll-examples` examples, default all) and its standard error over
those examples, KL per dimension and active units (on the same examples),
and the mutual information I(x; z) on the first `--mi-examples` of them
(at most log M nats), plus perplexity for sentences. The test -ELBO, KL and
reconstruction over the whole split and the -ELBO over its first 1,000
examples (the subset the tests re-measure) come from `model.evaluate`. The
entry also records the parameter count and the environment publish runs in
(TensorFlow, Keras, TFP and Python versions; CPU model, cores, GPUs).
Writes `NAME.weights.h5` into the `weights/` folder beside the registry file
it is told (`--registry`, e.g. the checkout's `vae_zoo/presets/registry.json`)
and the entry into that file; it refuses a registry inside an installed
package (site-packages). `python -m vae_zoo.training.remeasure NAME` measures
a published entry again; `python -m vae_zoo.training.cards` renders its card.
"""

import argparse
import json
import os
import platform
import sys
import time

SUBSET = 1000
MI_EXAMPLES = 2000  # evaluate_model's default
LICENSES = {
    "fashion_mnist": "MIT (Fashion-MNIST, Zalando Research)",
    "mnist": "CC BY-SA 3.0 (MNIST, LeCun, Cortes and Burges)",
    "wordnet_sentences": "WordNet 3.0 license (Princeton University), BSD-like",
}


def measure(model, x, num_samples, seed, nll_examples=None, mi_examples=MI_EXAMPLES, sentences=None):
    """Test metrics of `model` on a prepared test split `x` (numpy).

    Sentence models also get the word-level numbers of
    `vae_zoo.evaluation.sentence_report` on the raw test `sentences` (all of them):
    `test_unknown_share`, `test_reconstruction_token_f1`, `test_reconstruction_unknown_share`.

    The NLL, its standard error, KL per dimension and active units are over the
    first `nll_examples` examples (None: all); I(x; z) over the first
    `mi_examples` of those (None: all of them), so it is at most log(mi_examples).
    """
    from vae_zoo import evaluation

    def elbo_terms(data):
        logs = model.evaluate(data, batch_size=500, verbose=0, return_dict=True)
        return {"negative_elbo": -logs["elbo"], "kl": logs["kl"], "reconstruction": logs["reconstruction"]}

    start = time.time()
    if getattr(model, "optimizer", None) is None:  # presets and never-compiled models
        model.compile()
    nll_x = x if nll_examples is None else x[:nll_examples]
    report = evaluation.evaluate_model(model, nll_x, num_samples=num_samples, seed=seed, mi_examples=mi_examples)
    full, subset = elbo_terms(x), elbo_terms(x[:SUBSET])
    metrics = {
        "test_nll": report["negative_log_likelihood"],
        "test_nll_standard_error": report["negative_log_likelihood_standard_error"],
        "test_nll_num_samples": num_samples,
        "test_nll_num_examples": report["num_examples"],
        "test_negative_elbo": full["negative_elbo"],
        "test_kl": full["kl"],
        "test_reconstruction": full["reconstruction"],
        f"test_first_{SUBSET}_negative_elbo": subset["negative_elbo"],
        "test_num_examples": int(len(x)),
        "active_units": report["active_units"],
        "mutual_information": report["mutual_information"],
        "mutual_information_num_examples": report["mi_examples"],
        "kl_per_dimension": [round(v, 4) for v in report["kl_per_dimension"]] if report["kl_per_dimension"] else None,
    }
    if "perplexity" in report:
        metrics.update(perplexity=report["perplexity"], tokens=report["tokens"])
    if sentences is not None:
        words = evaluation.sentence_report(model, sentences)
        metrics.update({f"test_{key}": words[key] for key in ("unknown_share", "reconstruction_token_f1", "reconstruction_unknown_share")})
    metrics["evaluation_seconds"] = round(time.time() - start, 1)
    return metrics


BASELINE_KEYS = ("model", "test_nll", "test_num_examples", "command")


def read_baseline(path, num_examples):
    """A baseline measured on the same test examples (e.g. `benchmarks/sentence_vae.py`'s
    `language_model.json`): a dict with at least `BASELINE_KEYS`; refuses another count of examples."""
    with open(path) as f:
        baseline = json.load(f)
    missing = [key for key in BASELINE_KEYS if not isinstance(baseline, dict) or key not in baseline]
    if missing:
        raise ValueError(f"--baseline {path}: expected a JSON object with {', '.join(BASELINE_KEYS)}; missing {', '.join(missing)}")
    if baseline["test_num_examples"] != num_examples:
        raise ValueError(
            f"--baseline {path} was measured on {baseline['test_num_examples']} test examples, but this entry's NLL "
            f"is measured on {num_examples}: not comparable"
        )
    return baseline


def parameter_count(model):
    """The number of trainable parameters (scalars) of a built model."""
    return int(sum(int(w.numpy().size) for w in model.trainable_weights))


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (else `platform.processor()`, else "unknown")."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment():
    """The software and machine publish runs in: recorded in the entry as `environment`."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    return {
        "source": (
            "recorded by training/publish.py in the environment it published the run from "
            "(the training run's own when it is published where it trained)"
        ),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "platform": platform.platform(),
        },
    }


def evaluation_flags(num_samples, nll_examples, mi_examples):
    """The measurement settings as command-line flags (the entry's `evaluation_command`)."""
    nll = f" --nll-examples {nll_examples}" if nll_examples else ""
    mi = f" --mi-examples {mi_examples or 'all'}"
    return f"--num-samples {num_samples}{nll}{mi}"


def train_command(config, recipe):
    """The commands that train the run from a fresh clone: the warm-start recipe's run first, if any."""
    first = f"vae-zoo train --config {config['warm_start']} && " if config.get("warm_start") else ""
    return f"{first}vae-zoo train --config {recipe}"


def write_registry(registry_file, registry):
    """Writes the registry as the repository keeps it: sorted keys, indent 2, a final newline."""
    with open(registry_file, "w") as f:
        json.dump(registry, f, indent=2, sort_keys=True)
        f.write("\n")


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


def examples(value):
    """A count of examples >= 1 for the command line, or "all" (None)."""
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'all', got {value!r}")
    return int(value)


def add_measure_arguments(parser, num_samples_default=5000):
    parser.add_argument("--num-samples", type=int, default=num_samples_default, help="importance samples of the NLL estimate")
    parser.add_argument(
        "--nll-examples", type=examples, default=None, help="estimate the NLL on the first N test examples (default all)"
    )
    parser.add_argument(
        "--mi-examples",
        type=examples,
        default=MI_EXAMPLES,
        help=f"estimate I(x; z) on the first M of those, or 'all' (default {MI_EXAMPLES}); the estimate is at most "
        "log M nats, so showing I >= 8 nats takes M >= 3000 (log 3000 = 8.01)",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("--description", required=True)
    parser.add_argument("--recipe", required=True, help="the recipe that produced the run (training/recipes/...)")
    add_measure_arguments(parser)
    parser.add_argument("--registry", required=True, help="the registry.json to write (weights go to weights/ beside it)")
    parser.add_argument(
        "--baseline",
        default=None,
        help="a baseline's NLL on the same test examples, recorded as the entry's `baseline` (JSON with "
        "model, test_nll, test_num_examples, command; e.g. RUN/language_model.json of benchmarks/sentence_vae.py)",
    )
    args = parser.parse_args(argv)
    registry_file = registry_path(args.registry)

    import yaml

    from vae_zoo import evaluation, presets
    from vae_zoo.presets import load_model
    from vae_zoo.training.run import run_train_seconds
    from vae_zoo.utils.checksums import sha256
    from vae_zoo.version import __version__

    config = yaml.safe_load(open(os.path.join(args.run_dir, "config.yaml")))
    run_metrics = json.load(open(os.path.join(args.run_dir, "metrics.json")))
    model = load_model(args.run_dir)
    entry = {"dataset": config["dataset"], "preprocessing": preprocessing(config, model)}
    x = evaluation.preset_data(entry, model)
    sentences = evaluation.preset_sentences(entry, model)
    baseline = None if args.baseline is None else read_baseline(args.baseline, len(x[: args.nll_examples]))
    metrics = measure(model, x, args.num_samples, config["seed"], args.nll_examples, args.mi_examples, sentences)

    weights_dir = os.path.join(os.path.dirname(registry_file), "weights")
    os.makedirs(weights_dir, exist_ok=True)
    filename = f"{args.name}.weights.h5"
    path = os.path.join(weights_dir, filename)
    save_weights(model, path)
    entry.update({
        "description": args.description,
        "model_class": type(model).__name__,
        "config": model.get_config(),
        "recipe": args.recipe,
        "train_command": train_command(config, args.recipe),
        "train_seconds": run_train_seconds(run_metrics),
        "parameters": parameter_count(model),
        "environment": environment(),
        "weights": {"file": filename, "sha256": sha256(path), "url": None, "bytes": os.path.getsize(path)},
        "metrics": metrics,
        "evaluation_command": (
            f"python -m vae_zoo.training.publish RUN_DIR {args.name} --registry REGISTRY --recipe {args.recipe} "
            f"{evaluation_flags(args.num_samples, args.nll_examples, args.mi_examples)}"
            + ("" if baseline is None else " --baseline RUN_DIR/BASELINE.json")
            + " --description ..."
        ),
        "data_license": LICENSES.get(config["dataset"], "see the dataset's own license"),
        "vae_zoo_version": __version__,
    })  # fmt: skip
    if baseline is not None:
        entry["baseline"] = baseline
    if config.get("warm_start"):
        entry["warm_start_recipe"] = config["warm_start"]
    registry = presets.registry(registry_file) if os.path.exists(registry_file) else {}
    registry[args.name] = dict(sorted(entry.items()))
    write_registry(registry_file, registry)
    print(json.dumps({args.name: metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
