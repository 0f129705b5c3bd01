"""Rows and sections of a model card that state the protocol and the noise (`vae_zoo.training.protocol`):
the NLL's spread over test binarizations and training seeds, its combined uncertainty, the comparison
with a baseline worded by `protocol.wording`, the sentence metrics over words
(`vae_zoo.kinds.sentence_metrics.is_word`)
beside the older all-token ones, and the `protocol` block.
"""

from vae_zoo.training import protocol

NOT_RECORDED = "not recorded"


def nats(value):
    return NOT_RECORDED if value is None else f"{value:.2f}"


def count(value):
    return NOT_RECORDED if value is None else f"{value:,}"


def noise_rows(m, nll_examples, applicable):
    """The NLL's spread over test binarizations and training seeds, and its combined uncertainty; of the
    spreads not measured, those in `applicable` (metrics keys, `protocol.applicable_spreads`) are "not
    measured", the others "do not apply"."""
    rows = []
    spreads = (
        ("test_nll_by_binarization_seed", "test binarization"),
        ("test_nll_by_training_seed", "training"),
    )
    for key, what in spreads:
        spread = m.get(key)
        if spread:
            values = ", ".join(f"{v:.2f} (seed {seed})" for seed, v in spread["values"].items())
            sd = NOT_RECORDED if spread["sd"] is None else f"{spread['sd']:.2f}"
            rows.append(
                f"| NLL over {what} seeds | mean {spread['mean']:.2f}, sd {sd}: {values} | {nll_examples} |"
            )
    if m.get("test_nll_standard_error") is not None:
        sources = (
            ("test_nll_by_binarization_seed", "binarizations"),
            ("test_nll_by_training_seed", "training seeds"),
        )
        measured = [name for key, name in sources if m.get(key)]
        missing = [name for key, name in sources if not m.get(key) and key in applicable]
        absent = [name for key, name in sources if not m.get(key) and key not in applicable]
        text = "standard error over examples" + "".join(f", sd over {name}" for name in measured)
        text += "; not measured: " + ", ".join(missing) if missing else ""
        text += "; does not apply: " + ", ".join(absent) if absent else ""
        rows.append(
            "| combined uncertainty of the NLL, sqrt(SE² + sd_binarization² + sd_seeds²) | "
            f"{'≥' if missing else '±'} {protocol.entry_uncertainty(m):.2f} ({text}) | {nll_examples} |"
        )
    return rows


def baseline_text(m, baseline):
    """The baseline's NLL, the difference, its uncertainty and the wording it allows (`protocol.wording`)."""
    difference = m["test_nll"] - baseline["test_nll"]
    paired = baseline.get("paired")
    if paired is not None:
        shared = (m.get("test_nll_standard_error") or 0.0, baseline.get("test_nll_standard_error") or 0.0)
        uncertainty = protocol.difference_uncertainty(
            protocol.entry_uncertainty(m),
            baseline.get("test_nll_standard_error") or 0.0,
            paired_standard_error=paired["paired_standard_error"],
            shared_standard_error=shared,
        )
        how = f"paired standard error over the same examples {paired['paired_standard_error']:.2f}"
    else:
        uncertainty = protocol.difference_uncertainty(
            protocol.entry_uncertainty(m), baseline.get("test_nll_standard_error") or 0.0
        )
        how = "unpaired: the per-example NLLs were not kept"
    word = protocol.wording(m["test_nll"], baseline["test_nll"], uncertainty)
    return (
        f"{nats(baseline['test_nll'])} (this entry's NLL minus it: {difference:+.2f} ± {uncertainty:.2f}, "
        f"{how}; "
        f"this entry is **{word}** the baseline: a margin counts beyond {protocol.Z:g} combined "
        "uncertainties)"
    )


def protocol_section(name, entry):
    p = entry.get("protocol")
    binarized = entry["preprocessing"].get("test_binarize") == "static"
    again = (
        "- Re-run the protocol from the recipe (train per seed, select on validation, measure test once, "
        "write "
        f"entry and card into `runs/zoo/`): `vae-zoo zoo reproduce {name} [--seeds S ...]"
        + (" [--binarization-seeds 0 1 2]`." if binarized else "`.")
    )
    lines = ["## Protocol", ""]
    if p is None:
        return lines + [f"- Selection and test evaluations: {NOT_RECORDED}.", again, ""]
    seeds = p.get("test_binarization_seeds")
    estimator = p.get("estimator") or {}
    lines += [
        f"- Selection split: {p['selection_split']}; the run itself: {p.get('run_selection', NOT_RECORDED)}.",
        "- Recipe choices made on validation: "
        + ("; ".join(p.get("selected_on_validation") or []) or "none recorded")
        + ".",
        "- Choices informed by test figures: "
        + ("; ".join(p.get("test_informed_choices") or []) or "none")
        + ".",
        f"- Test evaluations of the published weights so far: {p.get('test_evaluations', NOT_RECORDED)}.",
        "- Test binarization seed(s): "
        + ("not binarized" if seeds is None else ", ".join(map(str, seeds)))
        + f"; training seed(s): {', '.join(map(str, p.get('training_seeds') or [])) or NOT_RECORDED}.",
        f"- Estimator: {estimator.get('name', NOT_RECORDED)}, k = {count(estimator.get('num_samples'))}, "
        f"{count(estimator.get('num_examples'))} test examples.",
    ]
    if p.get("source"):
        lines.append(f"- Source of this block: {p['source']}.")
    return lines + [again, ""]
