"""Measures a published registry entry again, without retraining: only its `metrics` change.

    python -m vae_zoo.training.remeasure NAME --registry vae_zoo/presets/registry.json \\
        --num-samples 5000 [--nll-examples N] [--mi-examples M] [--binarization-seeds 0 1 2] \\
        [--seed-runs RUN_SEED_1 ...] [--baseline BASELINE.json] [--resume-dir DIR]
    python -m vae_zoo.training.remeasure NAME --registry ... --seed-runs RUN_SEED_1 ... --seed-runs-only

Builds the entry's model and loads its weights through the preset loader
(`weights/` beside the registry, SHA-256 checked against the entry), rebuilds
the test split from the entry's own `dataset` and `preprocessing`
(`vae_zoo.kinds.preset_data`: images binarized once with its seed,
sentences tokenized by the model's vocabulary) and measures it as publish
does (`vae_zoo.training.measure.measure`, importance samples seeded with the
same seed). It then replaces the entry's `metrics` and `evaluation_command`, counts
the measurement in the entry's `protocol` block (`test_evaluations`, the
estimator and binarization seeds) and refreshes the paired comparison with
its baseline where the baseline's per-example NLLs are kept (`--baseline` replaces
the baseline by one measured again, as publish's `--baseline`), and nothing
else (`--seed-runs` adds finished runs of the entry's recipe, as it is now,
with other training seeds, measured on the same test images with the same
estimate, as publish's `--seed-runs` does; with `--seed-runs-only` they are
measured alone and added to the recorded figures, `add_seed_runs`): the weights, config, recipe,
environment, the other entries and the file's formatting stay as they were. The registry is read
again just before it is written, so entries re-measured in parallel do not
undo each other. Afterwards regenerate the model cards
(`python -m vae_zoo.training.cards`) and update the entry's numbers in
README's "Pretrained zoo" table; the tests check both against the registry.
"""

import argparse
import json
import os
import sys
import time

from vae_zoo.saved_passes import EarlierSeconds
from vae_zoo.training import measure, publish

#: The default of remeasure's own example counts, told apart from a value given (`all` is None).
NOT_GIVEN = object()


def remeasure(
    name,
    registry_file,
    num_samples,
    nll_examples=None,
    mi_examples=measure.MI_EXAMPLES,
    binarization_seeds=None,
    seed_runs=None,
    resume_dir=None,
    baseline_file=None,
):
    """Measures entry `name` of `registry_file` again and writes its new metrics; returns them.

    `seed_runs`: run directories of the entry's recipe (`entry["recipe"]`, resolved as it is now) with
    other training seeds; each is measured on the same test examples and counted as a test evaluation
    of its run. `baseline_file`: a baseline measured again on the same test examples (as publish's
    `--baseline`), replacing the entry's `baseline` and paired with the new per-example NLLs.
    `resume_dir`: where the importance-weighted passes save their progress (an interrupted re-measure
    started again goes on where it stopped)."""
    import numpy as np

    from vae_zoo import kinds, presets
    from vae_zoo.training import measurements, protocol

    entry = presets.entry(name, registry_file)
    binarization_seeds = protocol.check_binarization_seeds(entry, binarization_seeds)
    recipe_config, seed_runs = recipe_seed_runs(entry, seed_runs)
    model = presets.loader.build_registered(name, registry_file=registry_file)  # SHA-256 checked
    x = kinds.preset_data(entry, model)
    baseline = entry.get("baseline")
    if baseline_file is not None:  # read (and refused) before the long measurement
        baseline = measurements.read_baseline(baseline_file, len(x[:nll_examples]))
    elif baseline is not None and baseline["test_num_examples"] != len(x[:nll_examples]):
        raise ValueError(
            f"entry {name!r} compares its NLL with a baseline measured on "
            f"{baseline['test_num_examples']} test examples; measuring on {len(x[:nll_examples])} "
            f"would break that comparison (give --nll-examples {baseline['test_num_examples']})"
        )
    sentences = kinds.preset_extras_data(entry, model)
    seed = entry["preprocessing"]["seed"]
    start, resumed = time.time(), EarlierSeconds()  # resumed: what resumed passes had cost before
    metrics, ll = measure.measure(
        model, x, num_samples, seed, nll_examples, mi_examples, sentences, True, resume_dir, resumed
    )
    if binarization_seeds:
        metrics["test_nll_by_binarization_seed"] = protocol.binarization_spread(
            model, entry, ll, binarization_seeds, num_samples, seed, resume_dir, resumed
        )
    command = (
        f"python -m vae_zoo.training.remeasure {name} --registry REGISTRY "
        f"{measure.evaluation_flags(num_samples, nll_examples, mi_examples)}"
        + (
            ""
            if not binarization_seeds
            else " --binarization-seeds " + " ".join(map(str, binarization_seeds))
        )
        + ("" if not seed_runs else " --seed-runs " + " ".join(run for run, _, _ in seed_runs))
        + ("" if baseline_file is None else " --baseline BASELINE.json")
    )
    if seed_runs:
        metrics["test_nll_by_training_seed"] = protocol.seed_spread(
            recipe_config, ll, seed_runs, x, num_samples, command, resume_dir, resumed
        )
    # the spreads' passes included, and the sessions that worked on resumed passes before this one
    metrics["evaluation_seconds"] = round(time.time() - start + resumed.seconds, 1)

    # fresh (another entry may have been re-measured meanwhile), and as the file keeps it: asset
    # references stay
    registry = presets.registry(registry_file, resolve=False)
    current = registry.get(name)
    if current is None or current["weights"] != entry["weights"]:
        raise RuntimeError(
            f"entry {name!r} of {registry_file} was removed or got other weights while it was measured; "
            "nothing was written"
        )
    metrics["test_nll_per_example_file"] = measurements.save_per_example(registry_file, name, -ll)
    if baseline_file is not None:
        current["baseline"] = measurements.compare_with_baseline(
            baseline, baseline_file, registry_file, name, -ll
        )
    elif baseline is not None and baseline.get("test_nll_file"):
        other = np.load(os.path.join(os.path.dirname(registry_file), baseline["test_nll_file"]))
        current["baseline"]["paired"] = measurements.paired(-ll, other)
    current["metrics"] = metrics
    if "protocol" in current:  # a re-measure is one more look at the test split
        current["protocol"]["test_evaluations"] += 1
        current["protocol"]["test_binarization_seeds"] = protocol.binarization_seeds(
            entry, binarization_seeds
        )
        current["protocol"]["estimator"].update(num_samples=num_samples, num_examples=int(len(ll)))
        # the seeds behind these metrics: a re-measure without --seed-runs drops the earlier seed spread
        current["protocol"]["training_seeds"] = sorted(
            {entry["preprocessing"]["seed"], *(other["seed"] for _, other, _ in seed_runs)}
        )
    current["evaluation_command"] = command
    publish.write_registry(registry_file, registry)
    return metrics


def add_seed_runs(name, registry_file, seed_runs, resume_dir=None):
    """Measures only `seed_runs` (other training seeds of entry `name`'s recipe) and adds them to the entry's
    training-seed spread; returns the entry's metrics. Every other figure stays as recorded.

    Each run is measured as `remeasure`'s `seed_runs` are, on the entry's recorded test examples with its
    recorded estimate (`metrics.test_nll_num_samples`, importance samples seeded by the entry's seed, the
    examples of its kept per-example NLLs, `metrics.test_nll_per_example_file`); the entry's own value is its
    recorded `test_nll`, so its weights are not evaluated on the test split again and the protocol's
    `test_evaluations` stays. Seeds already in the spread keep their values. `evaluation_command` becomes the
    recorded command, then (`&&`) this one, which is also what each run records as its test evaluation."""
    import numpy as np

    from vae_zoo import kinds, presets
    from vae_zoo.training import protocol

    entry = presets.entry(name, registry_file)
    recorded = entry.get("metrics", {})
    missing = [k for k in ("test_nll_per_example_file", "test_nll_num_samples") if k not in recorded]
    if missing:
        raise ValueError(
            f"adding training seeds alone reuses entry {name!r}'s recorded per-example test NLLs, but its "
            f"metrics lack {', '.join(missing)}: measure it again with its --seed-runs instead"
        )
    earlier = dict(recorded.get("test_nll_by_training_seed", {}).get("values", {}))
    recipe_config, seed_runs = recipe_seed_runs(entry, seed_runs)
    repeated = [run for run, other, _ in seed_runs if str(other["seed"]) in earlier]
    if repeated:
        raise ValueError(
            f"--seed-runs {' '.join(repeated)}: training seed already in entry {name!r}'s spread "
            f"(seeds {', '.join(sorted(earlier))}); expected runs with new seeds"
        )
    main_ll = -np.load(os.path.join(os.path.dirname(registry_file), recorded["test_nll_per_example_file"]))
    model = presets.loader.build_registered(name, registry_file=registry_file)  # SHA-256 checked
    x = kinds.preset_data(entry, model)
    command = (
        f"python -m vae_zoo.training.remeasure {name} --registry REGISTRY --seed-runs "
        + " ".join(run for run, _, _ in seed_runs)
        + " --seed-runs-only"
    )
    start, resumed = time.time(), EarlierSeconds()
    spread = protocol.seed_spread(
        recipe_config, main_ll, seed_runs, x, recorded["test_nll_num_samples"], command, resume_dir, resumed
    )
    # the seeds measured before keep their recorded values; the entry's own is its recorded test_nll
    earlier.setdefault(str(recipe_config["seed"]), recorded["test_nll"])
    values = {int(seed): value for seed, value in {**spread["values"], **earlier}.items()}

    registry = presets.registry(registry_file, resolve=False)  # fresh, as remeasure writes it
    current = registry.get(name)
    if current is None or current["weights"] != entry["weights"] or current["metrics"] != recorded:
        raise RuntimeError(
            f"entry {name!r} of {registry_file} was removed, got other weights or was measured again while "
            "its seed runs were measured; nothing was written"
        )
    metrics = current["metrics"]
    metrics["test_nll_by_training_seed"] = protocol.spread(dict(sorted(values.items())))
    metrics["evaluation_seconds"] = round(
        metrics.get("evaluation_seconds", 0.0) + time.time() - start + resumed.seconds, 1
    )
    if "protocol" in current:
        current["protocol"]["training_seeds"] = sorted(values)
    current["evaluation_command"] = f"{current['evaluation_command']} && {command}"
    publish.write_registry(registry_file, registry)
    return metrics


def recipe_seed_runs(entry, runs):
    """(the entry's recipe resolved now, `protocol.check_seed_runs` of `runs` against it); refuses
    (ValueError) runs for an entry without a recipe file, or a run that repeats the entry's training
    seed."""
    if not runs:
        return None, []
    from vae_zoo.training import cards, protocol
    from vae_zoo.training import config as training_config

    if not entry.get("recipe"):
        raise ValueError("--seed-runs compares each run with the entry's recipe, but the entry names none")
    recipe_config = training_config.resolve(cards.recipe_path(entry["recipe"]))
    recipe_config["seed"] = entry["preprocessing"]["seed"]  # publish records the run's training seed there
    return recipe_config, protocol.check_seed_runs(recipe_config, runs)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", help="the registry entry to measure again")
    parser.add_argument(
        "--registry",
        required=True,
        help="the registry.json holding the entry (weights in weights/ beside it)",
    )
    measure.add_measure_arguments(parser, num_samples_default=None)  # None: not given (5000)
    parser.set_defaults(nll_examples=NOT_GIVEN, mi_examples=NOT_GIVEN)  # not None: None is "all"
    measure.add_binarization_seeds_argument(parser)
    measure.add_resume_argument(parser)
    parser.add_argument(
        "--seed-runs",
        nargs="+",
        default=[],
        metavar="RUN",
        help="finished runs of the entry's recipe with other training seeds: each measured on the same test "
        "examples, recorded as per-seed values, mean and spread",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="a baseline measured again on the same test examples (JSON as publish's --baseline, e.g. "
        "benchmarks/sentence_vae.py's language_model.json): replaces the entry's, paired with the new NLLs",
    )
    parser.add_argument(
        "--seed-runs-only",
        action="store_true",
        help="measure only the --seed-runs, with the entry's recorded estimate on its recorded test "
        "examples, and add them to its training-seed spread; every other figure stays (no other "
        "measurement option)",
    )
    args = parser.parse_args(argv)
    registry_file = publish.registry_path(args.registry)
    if args.seed_runs_only:
        given = [
            flag
            for flag, value in (
                ("--num-samples", args.num_samples),
                ("--nll-examples", None if args.nll_examples is NOT_GIVEN else True),
                ("--mi-examples", None if args.mi_examples is NOT_GIVEN else True),
                ("--binarization-seeds", args.binarization_seeds),
                ("--baseline", args.baseline),
            )
            if value is not None
        ]
        if given or not args.seed_runs:
            raise ValueError(
                "--seed-runs-only measures the --seed-runs alone with the entry's recorded estimate: "
                "expected --seed-runs RUN... and no other measurement option, got "
                + ", ".join(given + ([] if args.seed_runs else ["no --seed-runs"]))
            )
        metrics = add_seed_runs(args.name, registry_file, args.seed_runs, measure.resume_dir(args.resume_dir))
    else:
        metrics = remeasure(
            args.name,
            registry_file,
            5000 if args.num_samples is None else args.num_samples,
            None if args.nll_examples is NOT_GIVEN else args.nll_examples,
            measure.MI_EXAMPLES if args.mi_examples is NOT_GIVEN else args.mi_examples,
            args.binarization_seeds,
            args.seed_runs,
            measure.resume_dir(args.resume_dir),
            args.baseline,
        )
    print(json.dumps({args.name: metrics}, indent=2))
    print(
        "now regenerate the model cards (python -m vae_zoo.training.cards) and update the entry's row of "
        "README's Pretrained zoo table (tests/presets checks its numbers)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
