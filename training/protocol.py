"""The zoo's measurement protocol: selection on validation, test measured on request and counted, noise
stated.

* A training run (`vae-zoo train`) measures the train and validation splits only;
  every later look at the test split (`vae-zoo evaluate RUN --split test`,
  `python -m vae_zoo.training.publish`) is appended to the run's
  `metrics.json["test_evaluations"]` by `record_test_evaluation`: allowed, but recorded.
* `publish` refuses a run whose `metrics.json` lacks validation figures
  (`check_validation_metrics`) and writes a `protocol` block into the registry
  entry (`protocol_block`): the selection split, what was selected on it,
  choices that were informed by test figures, how many test evaluations the run
  has had (publish's own included), the test binarization seed(s), the training
  seed(s) and the estimator.
* Noise (`combined_uncertainty`, `entry_uncertainty`, `difference_uncertainty`,
  `wording`): a figure's combined uncertainty is the square root of the sum of
  the variances of its independent sources,

      u = sqrt(SE_images^2 + sd_binarization^2 / n_binarizations + sd_seeds^2 / n_seeds),

  where SE_images is the standard error over test examples, sd_binarization the
  standard deviation (ddof 1) of the NLL over test binarization seeds, sd_seeds
  that over training seeds, and n_binarizations / n_seeds how many of them the
  figure averages (1 for the value of one binarization or one trained model).
  The difference of two independent figures has u = sqrt(u_a^2 + u_b^2); two of
  our own entries on the same test examples use the paired standard error
  (`vae_zoo.evaluation.paired_standard_error`) in place of both SE_images terms.
  A margin is worded "better than X" (or "worse than X") only when it exceeds
  `Z` = 2 combined uncertainties, otherwise "on par with X".
"""

import datetime
import json
import math
import os
import sys

import numpy as np

from vae_zoo.utils.checks import is_integer

#: The validation figures every run's metrics.json must hold before it can be published.
VALIDATION_KEYS = ("negative_elbo", "kl", "reconstruction")
#: Margins beyond Z combined uncertainties are worded "better than" / "worse than".
Z = 2.0
#: The zoo's headline entries: their NLL is measured over at least two training seeds. For any other
#: entry a spread over training seeds does not apply (one trained model is what it ships).
HEADLINE_ENTRIES = ("dense_fashion_mnist", "conv_fashion_mnist", "hvae_fashion_mnist")


def check_validation_metrics(run_metrics, run_dir):
    """Refuses (ValueError) a run whose metrics.json lacks any of `validation.<VALIDATION_KEYS>`, naming
    them."""
    validation = run_metrics.get("validation") if isinstance(run_metrics, dict) else None
    validation = validation if isinstance(validation, dict) else {}
    missing = [
        f"validation.{key}" for key in VALIDATION_KEYS if not isinstance(validation.get(key), (int, float))
    ]
    if missing:
        raise ValueError(
            f"{os.path.join(run_dir, 'metrics.json')} lacks the validation figures {', '.join(missing)}: "
            "a published entry is selected on validation; expected a finished `vae-zoo train` run"
        )


def _write_json(path, value):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(temporary, path)


def record_test_evaluation(run_dir, by, command, **facts):
    """Appends one test evaluation to `run_dir/metrics.json["test_evaluations"]`; returns the count.

    Returns None (nothing recorded) where `run_dir` holds no metrics.json (a bare model file)."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        metrics = json.load(f)
    record = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "by": by}
    record.update(command=command, **facts)
    metrics["test_evaluations"] = [*metrics.get("test_evaluations", []), record]
    _write_json(path, metrics)
    return len(metrics["test_evaluations"])


def spread(values_by_seed):
    """`{"values": {seed: value}, "mean", "sd"}` of a measurement repeated over seeds (sd: ddof 1; None for
    one)."""
    if not values_by_seed:
        raise ValueError("spread needs at least one measured value")
    values = np.asarray(list(values_by_seed.values()), dtype=np.float64)
    return {
        "values": {str(seed): float(value) for seed, value in values_by_seed.items()},
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if values.size > 1 else None,
    }


def combined_uncertainty(standard_error, binarization_sd=None, seed_sd=None, binarizations=1, seeds=1):
    """sqrt(SE^2 + sd_binarization^2 / binarizations + sd_seeds^2 / seeds); a term not measured (None) adds
    0."""
    for name, count in (("binarizations", binarizations), ("seeds", seeds)):
        if not is_integer(count, 1):
            raise ValueError(
                f"{name} must be the number of values a figure averages (an integer >= 1), got {count!r}"
            )
    terms = [(standard_error, 1), (binarization_sd, binarizations), (seed_sd, seeds)]
    return math.sqrt(sum(value**2 / count for value, count in terms if value is not None))


def entry_uncertainty(metrics):
    """The combined uncertainty of an entry's headline NLL (one binarization, one trained model) from its
    metrics."""
    binarization = metrics.get("test_nll_by_binarization_seed") or {}
    seeds = metrics.get("test_nll_by_training_seed") or {}
    return combined_uncertainty(
        metrics.get("test_nll_standard_error") or 0.0, binarization.get("sd"), seeds.get("sd")
    )


def difference_uncertainty(
    uncertainty_a, uncertainty_b, paired_standard_error=None, shared_standard_error=None
):
    """The combined uncertainty of a - b: sqrt(u_a^2 + u_b^2) for independent figures; with the paired
    standard error of the same examples, the two SE_images terms (`shared_standard_error` = (SE_a, SE_b)) are
    replaced by it."""
    variance = uncertainty_a**2 + uncertainty_b**2
    if paired_standard_error is not None:
        if shared_standard_error is None:
            raise ValueError(
                "a paired standard error replaces both figures' SE_images: give shared_standard_error=(SE_a, "
                "SE_b)"
            )
        variance += paired_standard_error**2 - sum(se**2 for se in shared_standard_error)
    return math.sqrt(max(variance, 0.0))


def wording(value, other, uncertainty, lower_is_better=True, z=Z):
    """ "better than", "worse than" or "on par with": `value` against `other` given the combined uncertainty
    of their difference; better or worse only where the margin exceeds `z` uncertainties."""
    if uncertainty is None or uncertainty < 0 or not math.isfinite(uncertainty):
        raise ValueError(f"uncertainty must be a finite number >= 0, got {uncertainty!r}")
    margin = (other - value) if lower_is_better else (value - other)
    if margin > z * uncertainty:
        return "better than"
    if -margin > z * uncertainty:
        return "worse than"
    return "on par with"


def run_selection(config, run_metrics):
    """What a run itself chose on the validation split (early stopping), or the fixed budget it ran
    instead."""
    if config.get("early_stopping"):
        return (
            f"early stopping on validation ELBO (patience {config['early_stopping']}): stopped after "
            f"{run_metrics.get('epochs_completed')} of {config.get('epochs')} epochs, best validation "
            "weights restored"
        )
    return f"no early stopping: the recipe's fixed budget of {config.get('epochs')} epochs, final weights"


def protocol_block(config, run_metrics, recipe, choices, seeds, estimator):
    """The registry entry's `protocol` (see the module docstring).

    `choices`: `{"selected": [...], "test_informed": [...]}`, the recipe's choices (made on validation, and
    those test figures informed); `seeds`: `{"binarization": [...] or None (data not binarized), "training":
    [...]}`; `estimator`: `{"num_samples", "num_examples"}` of the importance-weighted NLL.
    """
    return {
        "selection_split": "validation",
        "run_selection": run_selection(config, run_metrics),
        "selected_on_validation": list(choices.get("selected", [])),
        "test_informed_choices": list(choices.get("test_informed", [])),
        "test_evaluations": len(run_metrics.get("test_evaluations", [])),
        "test_binarization_seeds": None if seeds["binarization"] is None else list(seeds["binarization"]),
        "training_seeds": list(seeds["training"]),
        "estimator": {"name": "importance-weighted NLL (IWAE bound, q(z|x) proposal)", **estimator},
        "recipe": recipe,
        "source": "recorded by training/publish.py from the run's config.yaml and metrics.json",
    }


def check_binarization_seeds(entry, seeds):
    """`seeds` (a list of ints, or None), refused (ValueError) for test data that is not binarized once."""
    if not seeds:
        return None
    if entry["preprocessing"].get("test_binarize") != "static":
        raise ValueError(
            "--binarization-seeds applies to test images binarized once (test_binarize 'static'); this "
            "entry's "
            f"test data is {entry['preprocessing'].get('test_binarize')!r} ({entry['dataset']}): nothing to "
            "re-binarize"
        )
    bad = [seed for seed in seeds if not is_integer(seed, 0)]
    if bad:
        raise ValueError(f"--binarization-seeds expects integers >= 0, got {bad}")
    return list(seeds)


def applicable_spreads(name, entry):
    """The metrics keys of the spreads that apply to entry `name`: over test binarization seeds for test
    data binarized once, over training seeds for a headline entry (`HEADLINE_ENTRIES`)."""
    keys = []
    if entry["preprocessing"].get("test_binarize") == "static":
        keys.append("test_nll_by_binarization_seed")
    if name in HEADLINE_ENTRIES:
        keys.append("test_nll_by_training_seed")
    return keys


def binarization_seeds(entry, seeds):
    """The test binarization seeds an entry's figures used: its own seed and `seeds`; None for data never
    binarized."""
    if entry["preprocessing"].get("test_binarize") != "static":
        return None
    return sorted({entry["preprocessing"]["seed"], *(int(seed) for seed in seeds or [])})


def binarization_spread(
    model, entry, main_ll, seeds, num_samples, importance_seed, resume_dir=None, earlier_seconds=None
):
    """The NLL over test binarization seeds (`spread`): the test set binarized with each seed, the same
    estimate (k = `num_samples`, importance samples seeded by `importance_seed`) on the same examples as
    `main_ll` (the per-example log p(x) under the entry's own seed, which is always among the values).
    `resume_dir` and `earlier_seconds` as in `evaluation.log_likelihood`."""
    from vae_zoo import evaluation, kinds

    check_binarization_seeds(entry, seeds)
    own = entry["preprocessing"]["seed"]
    values = {own: float(-np.mean(main_ll))}
    for seed in seeds:
        if seed not in values:
            x = kinds.preset_data(entry, model, binarization_seed=seed)[: len(main_ll)]
            print(f"test images binarized with seed {seed}:", file=sys.stderr)
            ll = evaluation.log_likelihood(
                model,
                x,
                num_samples=num_samples,
                seed=importance_seed,
                resume_dir=resume_dir,
                earlier_seconds=earlier_seconds,
            )
            values[seed] = float(-ll.mean())
    return spread(dict(sorted(values.items())))


#: Settings that may differ between runs of one recipe with other training seeds.
SEED_RUN_FREE = ("seed", "out", "verbose", "tensorboard", "warm_start")


def check_seed_runs(config, runs):
    """`[(run_dir, config, metrics)]` of other training seeds of the published run's recipe; refuses
    (ValueError) a run with other settings, without validation figures, or repeating a seed."""
    import yaml

    checked, seeds = [], {config["seed"]}
    for run in runs:
        with open(os.path.join(run, "config.yaml")) as f:
            other = yaml.safe_load(f)
        with open(os.path.join(run, "metrics.json")) as f:
            metrics = json.load(f)
        check_validation_metrics(metrics, run)
        keys = (set(config) | set(other)) - set(SEED_RUN_FREE)
        differing = sorted(k for k in keys if config.get(k) != other.get(k))
        if differing:
            shown = "; ".join(f"{k}: {other.get(k)!r} there, {config.get(k)!r} here" for k in differing)
            raise ValueError(
                f"--seed-runs {run} is not the published run's recipe with another seed ({shown})"
            )
        if other["seed"] in seeds:
            raise ValueError(
                f"--seed-runs {run} repeats training seed {other['seed']}: expected one run per seed"
            )
        seeds.add(other["seed"])
        checked.append((run, other, metrics))
    return checked


def seed_spread(config, main_ll, seed_runs, x, num_samples, command, resume_dir=None, earlier_seconds=None):
    """The NLL over training seeds (`spread`): each run of `check_seed_runs` measured on the same test
    examples `x` as the published run (its `main_ll`, training seed `config["seed"]`), the same estimate
    (importance samples seeded by `config["seed"]`); each counts as a test evaluation of its run.
    `resume_dir` and `earlier_seconds` as in `evaluation.log_likelihood`."""
    from vae_zoo import evaluation
    from vae_zoo.presets import load_model

    values = {config["seed"]: float(-np.mean(main_ll))}
    for run, other, _ in seed_runs:
        print(f"training seed {other['seed']} ({run}):", file=sys.stderr)
        ll = evaluation.log_likelihood(
            load_model(run),
            x[: len(main_ll)],
            num_samples=num_samples,
            seed=config["seed"],
            resume_dir=resume_dir,
            earlier_seconds=earlier_seconds,
        )
        values[other["seed"]] = float(-ll.mean())
        record_test_evaluation(
            run, "training-seed spread", command, num_samples=num_samples, examples=len(ll)
        )
    return spread(dict(sorted(values.items())))


def compare_entries(name_a, name_b, registry_file=None):
    """Entry `name_a` against `name_b` of one registry, on the same test examples: `{"difference"
    (NLL a - b), "paired_standard_error", "uncertainty" (`difference_uncertainty` with the paired SE),
    "wording"}` ("better than" ... for a against b). Both need their per-example test NLLs
    (`metrics.test_nll_per_example_file`, written by publish and remeasure) on the same data."""
    from vae_zoo import evaluation, presets

    registry_file = registry_file or presets.REGISTRY_FILE
    entries = [presets.entry(name, registry_file) for name in (name_a, name_b)]
    data = [
        (e["dataset"], e["preprocessing"].get("test_binarize"), e["preprocessing"]["seed"]) for e in entries
    ]
    if data[0] != data[1]:
        raise ValueError(
            f"{name_a} and {name_b} were measured on other test data ({data[0]} against {data[1]}: dataset, "
            "test binarization, seed); a paired comparison needs the same examples"
        )
    nll = []
    for name, entry in zip((name_a, name_b), entries):
        file = entry["metrics"].get("test_nll_per_example_file")
        if file is None:
            raise ValueError(
                f"entry {name!r} has no per-example test NLLs (metrics.test_nll_per_example_file); measure "
                "it again "
                f"with python -m vae_zoo.training.remeasure {name} to keep them"
            )
        nll.append(np.load(os.path.join(os.path.dirname(os.path.abspath(registry_file)), file)))
    paired = evaluation.paired_standard_error(*nll)
    metrics = [entry["metrics"] for entry in entries]
    uncertainty = difference_uncertainty(
        entry_uncertainty(metrics[0]),
        entry_uncertainty(metrics[1]),
        paired_standard_error=paired,
        shared_standard_error=[m.get("test_nll_standard_error") or 0.0 for m in metrics],
    )
    a, b = float(nll[0].mean()), float(nll[1].mean())
    return {
        "difference": a - b,
        "paired_standard_error": paired,
        "uncertainty": uncertainty,
        "wording": wording(a, b, uncertainty),
    }
