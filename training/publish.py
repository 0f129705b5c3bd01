"""Publishes a finished run as a preset: weights, SHA-256, measured metrics, registry entry.

    python -m vae_zoo.training.publish RUN_DIR NAME --registry vae_zoo/presets/registry.json \\
        --recipe training/recipes/NAME.yaml --description "..." \\
        [--num-samples 5000] [--nll-examples N] [--mi-examples M] [--binarization-seeds 0 1 2] \\
        [--seed-runs RUN_SEED_1 ...] [--selected-on-validation TEXT] --test-informed TEXT|none \\
        [--baseline JSON]

The run must hold validation figures (a `vae-zoo train` run's metrics.json):
a run without them is refused, naming the missing keys. Publishing is one
test evaluation of the run, appended to its `metrics.json["test_evaluations"]`,
and the entry records the `protocol` block of `vae_zoo.training.protocol`
(selection split, choices, test evaluation count, seeds, estimator).
`--binarization-seeds` adds the NLL on the test images binarized with each
seed and its spread; `--seed-runs` adds the NLL of runs of the same recipe
with other training seeds (mean, values, spread); the per-example test NLLs
go to `measurements/NAME.test_nll.npy` beside the registry, for paired
comparisons (`vae_zoo.evaluation.paired_standard_error`).

Measures on the test split the entry states (`vae_zoo.kinds.preset_data`):
images binarized once with the run's seed (as in training), sentences
tokenized with the model's vocabulary. What it measures (the importance-weighted
NLL and its standard error, the ELBO terms, KL per dimension, active units,
I(x; z), perplexity) and the flags that set it are `vae_zoo.training.measure`'s.
The entry also records the parameter count and the environment publish runs in
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

from vae_zoo.training import measure

LICENSES = {
    "fashion_mnist": "MIT (Fashion-MNIST, Zalando Research)",
    "mnist": "CC BY-SA 3.0 (MNIST, LeCun, Cortes and Burges)",
    "wordnet_sentences": "WordNet 3.0 license (Princeton University), BSD-like",
}


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
    """The entry's `preprocessing`: what the model's data kind (`vae_zoo.kinds`, its `preset_data`)
    needs to rebuild the test data."""
    from vae_zoo import kinds

    return kinds.kind_of_model(model).preprocessing(model, config)


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


def add_protocol_arguments(parser):
    """Flags of the noise measurements and the protocol record (publish and `vae-zoo zoo reproduce`)."""
    measure.add_binarization_seeds_argument(parser)
    parser.add_argument(
        "--selected-on-validation",
        action="append",
        default=[],
        metavar="TEXT",
        help="a recipe choice made on the validation split, recorded in the entry's protocol block "
        "(repeatable)",
    )
    parser.add_argument(
        "--test-informed",
        action="append",
        default=[],
        metavar="TEXT",
        help="a choice that test figures informed, disclosed in the protocol block (repeatable); publish "
        "requires it: `--test-informed none` where no test figure informed a choice",
    )


def shipped_in_distribution(registry_file, name, filename):
    """`(distribution, folder)` when the registry's entry `name` ships its weights in a separate
    weights distribution (README "Install"): a republished entry's weights replace the file there,
    so the library's wheel stays small. None for an entry whose weights sit beside the registry.
    Refuses an entry whose distribution is not installed (where would its weights go?)."""
    from vae_zoo import presets
    from vae_zoo.presets import loader

    if not os.path.exists(registry_file):
        return None
    old = presets.registry(registry_file, resolve=False).get(name, {})
    distribution = old.get("weights", {}).get("distribution")
    if not distribution:
        return None
    installed = loader.installed_weights(name, old["weights"]["file"])
    if installed is None:
        raise ValueError(
            f"preset {name!r} ships its weights in the distribution {distribution!r}, which is not "
            f"installed here: `pip install -e ./{loader.DISTRIBUTIONS_DIR}/{distribution}` first, so that "
            f"the new {filename} replaces the old one there"
        )
    return distribution, os.path.dirname(installed)


def publish_run(run_dir, name, registry_file, recipe, description, measure_settings, options=None):
    """Measures a finished run on the test split once and writes its registry entry; returns the entry.

    `measure_settings`: `{"num_samples", "nll_examples", "mi_examples"}`, optionally `"resume_dir"` (where
    the importance-weighted passes save their progress, see `evaluation.log_likelihood`). `options` (all
    optional but one):
    `baseline` (a JSON path), `binarization_seeds`, `seed_runs` (run directories of the same recipe with
    other training seeds), `selected_on_validation` and `test_informed` (lists of text; `test_informed` is
    required, `["none"]` where no test figure informed a choice), `command`
    (what to record as this test evaluation's command), `warm_start_recipe` (the recipe to name where the
    run's own config names a copy of it).
    """
    import yaml

    from vae_zoo import kinds, presets
    from vae_zoo.presets import load_model
    from vae_zoo.saved_passes import EarlierSeconds
    from vae_zoo.training import measurements, protocol
    from vae_zoo.training.run import run_train_seconds
    from vae_zoo.utils.checksums import sha256
    from vae_zoo.version import __version__

    options = options or {}
    num_samples, nll_examples, mi_examples = (
        measure_settings[key] for key in ("num_samples", "nll_examples", "mi_examples")
    )
    resume_dir = measure_settings.get("resume_dir")  # where the importance-weighted passes save progress
    config = yaml.safe_load(open(os.path.join(run_dir, "config.yaml")))
    run_metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
    protocol.check_validation_metrics(run_metrics, run_dir)
    if not options.get("test_informed"):
        raise ValueError(
            "publish needs the choices that test figures informed (--test-informed TEXT, repeatable), or "
            "--test-informed none: the entry's protocol block discloses them, and an empty one reads as "
            "undisclosed; got none"
        )
    seed_runs = protocol.check_seed_runs(config, options.get("seed_runs") or [])
    model = load_model(run_dir)
    entry = {"dataset": config["dataset"], "preprocessing": preprocessing(config, model)}
    binarization_seeds = protocol.check_binarization_seeds(entry, options.get("binarization_seeds"))
    kind = kinds.kind_of_model(model)
    x = kind.preset_data(entry, model)
    sentences = kind.preset_extras_data(entry, model)  # sentences: the raw test sentences; other kinds: None
    baseline = options.get("baseline") and measurements.read_baseline(
        options["baseline"], len(x[:nll_examples])
    )
    command = options.get("command") or f"python -m vae_zoo.training.publish {run_dir} {name} ..."
    start, earlier = time.time(), EarlierSeconds()  # earlier: what resumed passes had cost before
    metrics, ll = measure.measure(
        model, x, num_samples, config["seed"], nll_examples, mi_examples, sentences, True, resume_dir, earlier
    )
    protocol.record_test_evaluation(run_dir, "publish", command, num_samples=num_samples, examples=len(ll))
    run_metrics = json.load(open(os.path.join(run_dir, "metrics.json")))  # with publish's own evaluation
    if binarization_seeds:
        metrics["test_nll_by_binarization_seed"] = protocol.binarization_spread(
            model, entry, ll, binarization_seeds, num_samples, config["seed"], resume_dir, earlier
        )
    if seed_runs:
        metrics["test_nll_by_training_seed"] = protocol.seed_spread(
            config, ll, seed_runs, x, num_samples, command, resume_dir, earlier
        )
    # the spreads' passes included, and the sessions that worked on resumed passes before this one
    metrics["evaluation_seconds"] = round(time.time() - start + earlier.seconds, 1)

    weights_dir = os.path.join(os.path.dirname(registry_file), "weights")
    os.makedirs(weights_dir, exist_ok=True)
    filename = f"{name}.weights.h5"
    distribution = shipped_in_distribution(registry_file, name, filename)
    path = os.path.join(distribution[1] if distribution else weights_dir, filename)
    save_weights(model, path)
    per_example = measurements.save_per_example(registry_file, name, -ll)
    if baseline is not None:
        baseline = measurements.compare_with_baseline(baseline, options["baseline"], registry_file, name, -ll)
    warm_start_recipe = options.get("warm_start_recipe") or config.get("warm_start")
    training_seeds = sorted([config["seed"], *(other["seed"] for _, other, _ in seed_runs)])
    entry.update(
        {
            "description": description,
            "model_class": type(model).__name__,
            "config": config_record(model, weights_dir, name),
            "recipe": recipe,
            "train_command": train_command({**config, "warm_start": warm_start_recipe}, recipe),
            "train_seconds": run_train_seconds(run_metrics),
            "parameters": parameter_count(model),
            "environment": environment(),
            "weights": {
                "file": filename,
                "sha256": sha256(path),
                "url": None,
                "bytes": os.path.getsize(path),
                **({"distribution": distribution[0]} if distribution else {}),
            },
            "metrics": {**metrics, "test_nll_per_example_file": per_example},
            "evaluation_command": (
                f"python -m vae_zoo.training.publish RUN_DIR {name} --registry REGISTRY --recipe {recipe} "
                f"{measure.evaluation_flags(num_samples, nll_examples, mi_examples)}"
                + ("" if baseline is None else " --baseline RUN_DIR/BASELINE.json")
                + " --description ..."
            ),
            "protocol": protocol.protocol_block(
                config,
                run_metrics,
                recipe,
                {
                    "selected": options.get("selected_on_validation", []),
                    "test_informed": options.get("test_informed", []),
                },
                {
                    "binarization": protocol.binarization_seeds(entry, binarization_seeds),
                    "training": training_seeds,
                },
                {"num_samples": num_samples, "num_examples": len(ll)},
            ),
            "data_license": LICENSES.get(config["dataset"], "see the dataset's own license"),
            "vae_zoo_version": __version__,
        }
    )
    if baseline is not None:
        entry["baseline"] = baseline
    if warm_start_recipe:
        entry["warm_start_recipe"] = warm_start_recipe
    # as the file keeps it: other entries' asset references (vocabularies) stay references
    registry = presets.registry(registry_file, resolve=False) if os.path.exists(registry_file) else {}
    registry[name] = dict(sorted(entry.items()))
    write_registry(registry_file, registry)
    return registry[name]


def config_record(model, weights_dir, name):
    """The entry's model config; a sentence model's vocabulary goes to `weights/NAME.vocabulary.txt`
    beside the weights, named with its SHA-256 (checked at load like the weights)."""
    from vae_zoo.presets.checks import vocabulary_writable, write_vocabulary

    config = model.get_config()
    if isinstance(config.get("vocabulary"), list) and vocabulary_writable(config["vocabulary"]):
        config["vocabulary"] = write_vocabulary(
            config["vocabulary"], os.path.join(weights_dir, f"{name}.vocabulary.txt")
        )
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("--description", required=True)
    parser.add_argument(
        "--recipe", required=True, help="the recipe that produced the run (training/recipes/...)"
    )
    measure.add_measure_arguments(parser)
    measure.add_resume_argument(parser)
    parser.add_argument(
        "--registry", required=True, help="the registry.json to write (weights go to weights/ beside it)"
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="a baseline's NLL on the same test examples, recorded as the entry's `baseline` (JSON with "
        "model, test_nll, test_num_examples, command, optionally test_nll_file: its per-example NLLs as "
        ".npy, for the paired standard error; e.g. RUN/language_model.json of benchmarks/sentence_vae.py)",
    )
    parser.add_argument(
        "--seed-runs",
        nargs="+",
        default=[],
        metavar="RUN",
        help="finished runs of the same recipe with other training seeds: each measured on the same test "
        "examples, recorded as per-seed values, mean and spread",
    )
    add_protocol_arguments(parser)
    args = parser.parse_args(argv)
    registry_file = registry_path(args.registry)
    settings = {
        "num_samples": args.num_samples,
        "nll_examples": args.nll_examples,
        "mi_examples": args.mi_examples,
        "resume_dir": measure.resume_dir(args.resume_dir),
    }
    keys = ("baseline", "binarization_seeds", "seed_runs", "selected_on_validation", "test_informed")
    options = {key: getattr(args, key) for key in keys}
    options["command"] = " ".join(
        ["python -m vae_zoo.training.publish", *(argv if argv is not None else sys.argv[1:])]
    )
    entry = publish_run(
        args.run_dir, args.name, registry_file, args.recipe, args.description, settings, options
    )
    print(json.dumps({args.name: entry["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
