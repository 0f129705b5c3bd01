"""Per-example measurements kept beside a registry, and baselines measured on the same test examples.

`save_per_example` writes each test example's NLL of an entry as
`measurements/NAME.test_nll.npy` beside the registry (in the test split's
order), so two of our own entries, or an entry and its baseline, can be
compared with the paired standard error over the same examples
(`vae_zoo.evaluation.paired_standard_error`).
"""

import json
import os

import numpy as np

BASELINE_KEYS = ("model", "test_nll", "test_num_examples", "command")


def read_baseline(path, num_examples):
    """A baseline measured on the same test examples (e.g. `benchmarks/sentence_vae.py`'s
    `language_model.json`): a dict with at least `BASELINE_KEYS`; refuses another count of examples."""
    with open(path) as f:
        baseline = json.load(f)
    missing = [key for key in BASELINE_KEYS if not isinstance(baseline, dict) or key not in baseline]
    if missing:
        raise ValueError(
            f"--baseline {path}: expected a JSON object with {', '.join(BASELINE_KEYS)}; missing "
            f"{', '.join(missing)}"
        )
    if baseline["test_num_examples"] != num_examples:
        raise ValueError(
            f"--baseline {path} was measured on {baseline['test_num_examples']} test examples, but this "
            "entry's NLL "
            f"is measured on {num_examples}: not comparable"
        )
    return baseline


def save_per_example(registry_file, name, values, suffix="test_nll"):
    """Saves per-example values (e.g. each test example's NLL, in the test split's order) as
    `measurements/NAME.SUFFIX.npy` beside the registry, for paired comparisons; returns that relative path."""
    relative = os.path.join("measurements", f"{name}.{suffix}.npy")
    path = os.path.join(os.path.dirname(registry_file), relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.asarray(values, dtype=np.float64))
    return relative


def compare_with_baseline(baseline, baseline_path, registry_file, name, nll):
    """The entry's `baseline` with, where the baseline's per-example NLLs are given (`test_nll_file`, relative
    to its JSON), the NLL difference and its paired standard error over the same examples (`paired`)."""
    baseline = dict(baseline)
    if baseline.get("test_nll_file") is None:
        return baseline
    other = np.load(os.path.join(os.path.dirname(os.path.abspath(baseline_path)), baseline["test_nll_file"]))
    if other.shape != nll.shape:
        raise ValueError(
            f"--baseline {baseline_path}: its per-example NLLs ({baseline['test_nll_file']}) hold "
            f"{other.shape[0]} "
            f"values, but this entry's NLL is measured on {nll.shape[0]} examples"
        )
    baseline["test_nll_file"] = save_per_example(registry_file, name, other, suffix="baseline_test_nll")
    baseline["paired"] = paired(nll, other)
    return baseline


def paired(nll, other):
    """The entry's per-example NLLs `nll` against a baseline's `other` on the same examples: the mean
    difference and its paired standard error."""
    from vae_zoo import evaluation

    return {
        "nll_difference": float(nll.mean() - other.mean()),
        "paired_standard_error": evaluation.paired_standard_error(nll, other),
    }
