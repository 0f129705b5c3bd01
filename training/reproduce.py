"""`vae-zoo zoo reproduce NAME`: re-runs the zoo's protocol for a registry entry, from its recipe.

    vae-zoo zoo reproduce conv_fashion_mnist [--seeds 0 1] [--binarization-seeds 0 1 2] \\
        [--registry runs/zoo/registry.json] [--runs-dir runs/reproduce]

1. Trains the entry's recipe (`entry["recipe"]`; first its warm-start recipe, if
   it has one) once per training seed (`--seeds`, default the entry's
   `protocol.training_seeds`, else the recipe's seed) into
   `RUNS_DIR/NAME/seed_S/` with `vae_zoo.training.run.train`, the path of
   `vae-zoo train`: train and validation metrics only. A finished run found
   there is reused (a killed one resumes).
2. Selection is the recipe's and the run's own, on validation (early stopping
   where the recipe has it); nothing here looks at the test split.
3. Publishes the first seed's run into `--registry` (default
   `runs/zoo/registry.json`, never the shipped registry unless named):
   the test split measured once (`publish.publish_run`), the other seeds' runs
   measured on the same test examples for the training-seed spread, the
   test-binarization spread where `--binarization-seeds` is given, and the
   `protocol` block, which carries the recipe's recorded choices over from the
   source entry (the same recipe has the same history).
4. Writes the entry's model card into `--cards-dir` (default `model_cards/`
   beside the output registry).

The NLL is measured as the source entry was (its k and number of examples)
unless `--num-samples` / `--nll-examples` / `--mi-examples` say otherwise.
A baseline the entry compares with (the sentence VAE's language model) is not
re-run: its command is printed, and `publish --baseline` records it.
"""

import json
import os
import sys

HELP = (
    "Train an entry's recipe (per training seed), select on validation, measure test once, "
    "write entry and card."
)
DEFAULT_REGISTRY = os.path.join("runs", "zoo", "registry.json")
DEFAULT_RUNS_DIR = os.path.join("runs", "reproduce")


def add_arguments(parser):
    from vae_zoo.training import measure

    parser.add_argument("name", help="the registry entry to reproduce")
    parser.add_argument(
        "--source-registry", default=None, help="the registry holding NAME (default: the shipped one)"
    )
    parser.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        help=(
            "the registry to write the reproduced entry into "
            f"(default {DEFAULT_REGISTRY}; weights/ beside it)"
        ),
    )
    parser.add_argument(
        "--runs-dir", default=DEFAULT_RUNS_DIR, help=f"where the runs go (default {DEFAULT_RUNS_DIR})"
    )
    parser.add_argument(
        "--cards-dir", default=None, help="where the card goes (default: model_cards/ beside --registry)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="training seeds (default: the entry's)"
    )
    parser.add_argument(
        "--num-samples", type=int, default=None, help="importance samples (default: the entry's)"
    )
    parser.add_argument("--nll-examples", type=measure.examples, default=None, help="default: the entry's")
    parser.add_argument("--mi-examples", type=measure.examples, default=None, help="default: the entry's")
    measure.add_binarization_seeds_argument(parser)
    measure.add_resume_argument(parser)
    parser.add_argument(
        "--verbose", type=int, default=2, help="training output: 0 silent, 1 progress bar, 2 per epoch"
    )


def measure_settings(entry, args):
    """The NLL's k, its examples and I(x; z)'s examples: the flags, else what the source entry recorded;
    and `--resume-dir`."""
    from vae_zoo.training import measure

    m = entry.get("metrics", {})
    nll_examples = args.nll_examples
    if nll_examples is None and m.get("test_nll_num_examples") not in (None, m.get("test_num_examples")):
        nll_examples = m["test_nll_num_examples"]
    num_samples = args.num_samples or m.get("test_nll_num_samples") or 5000
    if num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {num_samples}")
    mi_examples = (
        args.mi_examples if args.mi_examples is not None else m.get("mutual_information_num_examples")
    )
    return {
        "num_samples": int(num_samples),
        "nll_examples": nll_examples,
        "mi_examples": mi_examples,
        "resume_dir": measure.resume_dir(args.resume_dir),
    }


def _finished(run_dir):
    return all(os.path.exists(os.path.join(run_dir, name)) for name in ("model.keras", "metrics.json"))


def train_seed(recipe, seed, run_dir, verbose):
    """Trains `recipe` (and first its warm-start recipe) with training seed `seed` into `run_dir`."""
    import yaml

    from vae_zoo.training import cards
    from vae_zoo.training import config as config_lib
    from vae_zoo.training.run import train

    settings = {"seed": seed, "out": run_dir, "verbose": verbose}
    config = config_lib.resolve(recipe, settings)
    if config.get("warm_start"):
        first_out = os.path.join(run_dir, "first")
        first = config_lib.resolve(cards.recipe_path(config["warm_start"]), {**settings, "out": first_out})
        first_recipe = os.path.join(run_dir, "first.yaml")
        os.makedirs(run_dir, exist_ok=True)
        with open(first_recipe, "w") as f:
            yaml.safe_dump(first, f, sort_keys=True)
        if not _finished(first["out"]):
            config_lib.check_model_kwargs(first)
            train(first)
        config["warm_start"] = first_recipe
    if not _finished(run_dir):
        config_lib.check_model_kwargs(config)
        train(config)
    return config


def reproduce(name, args):
    """Runs the protocol for entry `name` (see the module docstring); returns the new entry."""
    from vae_zoo import presets
    from vae_zoo.training import cards, publish
    from vae_zoo.training import config as config_lib

    os.makedirs(os.path.dirname(os.path.abspath(args.registry)), exist_ok=True)
    registry_file = publish.registry_path(args.registry)
    source = presets.entry(name, args.source_registry)
    recipe = cards.recipe_path(source["recipe"])
    protocol = source.get("protocol") or {}
    seeds = args.seeds or protocol.get("training_seeds") or [config_lib.resolve(recipe)["seed"]]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {' '.join(map(str, seeds))}: each training seed once")
    settings = measure_settings(source, args)
    first_config = config_lib.resolve(recipe)
    warm = first_config.get("warm_start")
    if args.binarization_seeds and first_config["binarize"] is None:
        raise ValueError(
            f"--binarization-seeds applies to binarized images; {source['recipe']} does not binarize"
        )
    runs = []
    for seed in seeds:
        run_dir = os.path.join(args.runs_dir, name, f"seed_{seed}")
        train_seed(recipe, seed, run_dir, args.verbose)
        runs.append(run_dir)
    options = {
        "binarization_seeds": args.binarization_seeds,
        "seed_runs": runs[1:],
        "selected_on_validation": protocol.get("selected_on_validation", []),
        "test_informed": protocol.get("test_informed_choices", []),
        "warm_start_recipe": warm,
        "command": f"vae-zoo zoo reproduce {name} --seeds {' '.join(map(str, seeds))}",
    }
    recipe_name, description = source["recipe"], source["description"]
    entry = publish.publish_run(runs[0], name, registry_file, recipe_name, description, settings, options)
    cards_dir = args.cards_dir or os.path.join(os.path.dirname(registry_file), "model_cards")
    os.makedirs(cards_dir, exist_ok=True)
    with open(os.path.join(cards_dir, f"{name}.md"), "w") as f:
        f.write(cards.render(name, entry))
    if source.get("baseline"):
        print(
            f"vae-zoo zoo reproduce: {name}'s baseline ({source['baseline']['model']}) is not re-run "
            f"here: run `{source['baseline']['command']}` and publish with --baseline",
            file=sys.stderr,
        )
    return entry


def main(args):
    entry = reproduce(args.name, args)
    print(json.dumps({args.name: {"metrics": entry["metrics"], "protocol": entry["protocol"]}}, indent=2))
    return 0
