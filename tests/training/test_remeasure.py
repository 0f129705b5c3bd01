"""Measuring a published entry again without retraining: only its metrics and protocol change; other
training seeds, a replaced baseline, and refusals."""

import json

import numpy as np
import pytest

from tiny_entry import SEED, binarized_test_images, copied_registry, seed_run
from vae_zoo import evaluation, presets
from vae_zoo.training import measure, remeasure


def test_remeasure_changes_only_the_metrics(published, tmp_path):
    source, _ = published
    registry = copied_registry(source, tmp_path)
    before = presets.registry(str(registry))
    weights = (registry.parent / "weights" / "tiny.weights.h5").read_bytes()
    argv = [
        "tiny",
        "--registry",
        str(registry),
        "--num-samples",
        "2",
        "--nll-examples",
        "30",
        "--mi-examples",
        "all",
    ]
    assert remeasure.main(argv) == 0
    after = presets.registry(str(registry))
    assert after["other"] == before["other"]
    changed = {
        key
        for key in set(before["tiny"]) | set(after["tiny"])
        if before["tiny"].get(key) != after["tiny"].get(key)
    }
    assert changed == {"metrics", "evaluation_command", "protocol"}
    # a re-measure is one more test evaluation; without --binarization-seeds only the entry's own seed is
    # measured
    assert (
        after["tiny"]["protocol"]["test_evaluations"]
        == before["tiny"]["protocol"]["test_evaluations"] + 1
        == 2
    )
    assert after["tiny"]["protocol"]["test_binarization_seeds"] == [SEED]
    assert "test_nll_by_binarization_seed" not in after["tiny"]["metrics"]
    assert after["tiny"]["protocol"]["estimator"]["num_samples"] == 2
    assert (registry.parent / "weights" / "tiny.weights.h5").read_bytes() == weights
    m = after["tiny"]["metrics"]
    counts = (m["test_nll_num_samples"], m["test_nll_num_examples"], m["mutual_information_num_examples"])
    assert counts == (2, 30, 30)
    assert after["tiny"]["evaluation_command"] == (
        "python -m vae_zoo.training.remeasure tiny --registry REGISTRY "
        "--num-samples 2 --nll-examples 30 --mi-examples all"
    )
    # measured on the entry's binarization (seed 5) with the loaded weights, not on seed 0's
    model = presets.loader.build_registered("tiny", registry_file=str(registry))
    ll = evaluation.log_likelihood(
        model, binarized_test_images(SEED)[:30], num_samples=2, seed=SEED, progress=False
    )
    assert m["test_nll"] == pytest.approx(-ll.mean(), rel=1e-6)
    assert m["test_nll_standard_error"] == pytest.approx(np.std(ll, ddof=1) / np.sqrt(30), rel=1e-5)
    wrong = evaluation.log_likelihood(
        model, binarized_test_images(0)[:30], num_samples=2, seed=SEED, progress=False
    )
    assert abs(m["test_nll"] + wrong.mean()) > 1e-3
    # the file stays in the repository's format: sorted keys, indent 2, a final newline
    assert registry.read_text() == json.dumps(after, indent=2, sort_keys=True) + "\n"


def test_remeasure_adds_runs_of_the_recipe_with_other_training_seeds(published, tmp_path):
    source, _ = published
    registry = copied_registry(source, tmp_path)
    other = seed_run(tmp_path / "seed9", 9)
    argv = ["tiny", "--registry", str(registry), "--num-samples", "2", "--nll-examples", "30"]
    assert remeasure.main([*argv, "--mi-examples", "10", "--seed-runs", str(tmp_path / "seed9")]) == 0
    e = presets.entry("tiny", str(registry))
    assert e["protocol"]["training_seeds"] == [SEED, 9]
    assert e["evaluation_command"].endswith(f"--seed-runs {tmp_path / 'seed9'}")
    # the other seed's weights on the entry's own test examples and binarization (seed 5), same estimate
    ll = evaluation.log_likelihood(
        other, binarized_test_images(SEED)[:30], num_samples=2, seed=SEED, progress=False
    )
    by_seed = e["metrics"]["test_nll_by_training_seed"]
    assert by_seed["values"]["9"] == pytest.approx(-ll.mean(), rel=1e-6)
    assert by_seed["values"][str(SEED)] == pytest.approx(e["metrics"]["test_nll"], rel=1e-6)
    assert abs(by_seed["values"]["9"] - by_seed["values"][str(SEED)]) > 0.1  # two models, two values
    assert by_seed["sd"] == pytest.approx(np.std(list(by_seed["values"].values()), ddof=1), rel=1e-5)
    recorded = json.loads((tmp_path / "seed9" / "metrics.json").read_text())["test_evaluations"]
    assert len(recorded) == 1 and recorded[0]["by"] == "training-seed spread"

    # measured again without the seed run: its value leaves the metrics, and its seed the protocol
    assert remeasure.main([*argv, "--mi-examples", "10"]) == 0
    e = presets.entry("tiny", str(registry))
    assert "test_nll_by_training_seed" not in e["metrics"] and e["protocol"]["training_seeds"] == [SEED]

    # another recipe's run, or the entry's own seed again, is refused before anything is measured
    text = registry.read_text()
    seed_run(tmp_path / "longer", 11, epochs=21)
    with pytest.raises(
        ValueError, match="not the published run's recipe with another seed .epochs: 21 there"
    ):
        remeasure.main([*argv, "--seed-runs", str(tmp_path / "longer")])
    seed_run(tmp_path / "again", SEED)
    with pytest.raises(ValueError, match=f"repeats training seed {SEED}"):
        remeasure.main([*argv, "--seed-runs", str(tmp_path / "again")])
    assert registry.read_text() == text


def test_seed_runs_only_adds_training_seeds_and_keeps_every_other_figure(published, tmp_path):
    source, _ = published
    registry = copied_registry(source, tmp_path)
    argv = ["tiny", "--registry", str(registry)]
    published_entry = presets.entry("tiny", str(registry))
    assert "test_nll_by_training_seed" not in published_entry["metrics"]
    k = published_entry["metrics"]["test_nll_num_samples"]
    n = published_entry["metrics"]["test_nll_num_examples"]
    assert (k, n) != (5000, 10000)  # the recorded estimate, not the defaults, is what a wrong run would miss
    before = published_entry
    for seed, earlier_seeds in ((9, [SEED]), (11, [SEED, 9])):
        other = seed_run(tmp_path / f"seed{seed}", seed)
        assert remeasure.main([*argv, "--seed-runs", str(tmp_path / f"seed{seed}"), "--seed-runs-only"]) == 0
        after = presets.entry("tiny", str(registry))
        # the recorded estimate on the recorded examples of the entry's binarization
        ll = evaluation.log_likelihood(
            other, binarized_test_images(SEED)[:n], num_samples=k, seed=SEED, progress=False
        )
        by_seed = after["metrics"]["test_nll_by_training_seed"]
        assert by_seed["values"][str(seed)] == pytest.approx(-ll.mean(), rel=1e-6)
        assert abs(by_seed["values"][str(seed)] - by_seed["values"][str(SEED)]) > 0.1
        # the seeds measured before keep their values; the entry's own is its recorded NLL
        earlier = before["metrics"].get("test_nll_by_training_seed", {}).get("values", {})
        assert {s: by_seed["values"][s] for s in earlier} == earlier
        assert by_seed["values"][str(SEED)] == published_entry["metrics"]["test_nll"]
        assert by_seed["sd"] == pytest.approx(np.std(list(by_seed["values"].values()), ddof=1), rel=1e-5)
        # nothing else is measured again: the entry's weights had no further look at the test split
        unchanged = ("test_nll_by_training_seed", "evaluation_seconds")
        assert {k: v for k, v in after["metrics"].items() if k not in unchanged} == {
            k: v for k, v in before["metrics"].items() if k not in unchanged
        }
        assert after["protocol"]["test_evaluations"] == before["protocol"]["test_evaluations"]
        assert after["protocol"]["training_seeds"] == [*earlier_seeds, seed]
        # the recorded command, then this one: together they reproduce every figure
        own = "python -m vae_zoo.training.remeasure tiny --registry REGISTRY --seed-runs "
        own += f"{tmp_path / f'seed{seed}'} --seed-runs-only"
        assert after["evaluation_command"] == f"{before['evaluation_command']} && {own}"
        recorded = json.loads((tmp_path / f"seed{seed}" / "metrics.json").read_text())["test_evaluations"]
        assert len(recorded) == 1 and recorded[0]["command"] == own
        before = after

    # a seed already in the spread, a measurement option, or no run is refused before anything is measured
    text = registry.read_text()
    with pytest.raises(ValueError, match="training seed already in entry 'tiny'"):
        remeasure.main([*argv, "--seed-runs", str(tmp_path / "seed9"), "--seed-runs-only"])
    with pytest.raises(ValueError, match="no other measurement option, got --num-samples, --mi-examples"):
        remeasure.main(
            [*argv, "--seed-runs", str(tmp_path / "seed9"), "--seed-runs-only"]
            + ["--num-samples", "2", "--mi-examples", "all"]
        )
    with pytest.raises(ValueError, match="got --nll-examples, no --seed-runs"):  # "all" is given too
        remeasure.main([*argv, "--seed-runs-only", "--nll-examples", "all"])
    with pytest.raises(ValueError, match="got no --seed-runs"):
        remeasure.main([*argv, "--seed-runs-only"])
    assert registry.read_text() == text


def test_remeasure_replaces_the_baseline_and_pairs_it(published, tmp_path):
    source, _ = published
    registry = copied_registry(source, tmp_path)
    own = np.load(source.parent / presets.entry("tiny", str(source))["metrics"]["test_nll_per_example_file"])
    wobble = np.tile([0.2, -0.2, 0.1, -0.1], 10)
    np.save(tmp_path / "lm_nll.npy", own + 1.5 + wobble)  # a baseline 1.5 nats worse, but for the wobble
    baseline = {"model": "LM", "test_nll": float((own + 1.5).mean()), "test_num_examples": 40}
    baseline.update(test_nll_standard_error=0.2, command="python lm.py", test_nll_file="lm_nll.npy")
    (tmp_path / "lm.json").write_text(json.dumps(baseline))
    argv = ["tiny", "--registry", str(registry), "--num-samples", "3", "--nll-examples", "40"]
    assert remeasure.main([*argv, "--mi-examples", "20", "--baseline", str(tmp_path / "lm.json")]) == 0
    e = presets.entry("tiny", str(registry))
    assert e["baseline"]["model"] == "LM" and e["evaluation_command"].endswith("--baseline BASELINE.json")
    paired = e["baseline"]["paired"]
    assert paired["nll_difference"] == pytest.approx(-1.5 - wobble.mean(), abs=1e-4)  # the same NLLs again
    assert paired["paired_standard_error"] == pytest.approx(np.std(wobble, ddof=1) / np.sqrt(40), rel=1e-3)
    assert np.array_equal(np.load(registry.parent / e["baseline"]["test_nll_file"]), own + 1.5 + wobble)

    # a baseline of other examples is refused before anything is measured
    text = registry.read_text()
    (tmp_path / "lm.json").write_text(json.dumps({**baseline, "test_num_examples": 30}))
    with pytest.raises(
        ValueError, match="measured on 30 test examples, but this entry's NLL is measured on 40"
    ):
        remeasure.main([*argv, "--baseline", str(tmp_path / "lm.json")])
    assert registry.read_text() == text


def test_remeasure_refuses_tampered_weights(published, tmp_path):
    source, _ = published
    registry = copied_registry(source, tmp_path)
    path = registry.parent / "weights" / "tiny.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    text = registry.read_text()
    with pytest.raises(presets.PresetChecksumError, match="tiny.weights.h5 has SHA-256"):
        remeasure.main(["tiny", "--registry", str(registry), "--num-samples", "2"])
    assert registry.read_text() == text


def test_measure_flags():
    assert measure.evaluation_flags(5000, None, 2000) == "--num-samples 5000 --mi-examples 2000"
    assert (
        measure.evaluation_flags(1000, 1000, None)
        == "--num-samples 1000 --nll-examples 1000 --mi-examples all"
    )
    with pytest.raises(SystemExit):
        remeasure.main(["tiny", "--registry", "x.json", "--num-samples", "2", "--mi-examples", "0"])


def test_a_remeasure_that_resumes_its_passes_counts_what_they_cost_before(published, tmp_path):
    """As publish: a remeasure reading back passes of earlier sessions adds what their files record."""
    source, _ = published
    registry = copied_registry(source, tmp_path)
    passes = tmp_path / "passes"
    argv = ["tiny", "--registry", str(registry), "--num-samples", "2", "--nll-examples", "30"]
    argv += ["--mi-examples", "all", "--binarization-seeds", "0", "--resume-dir", str(passes)]
    assert remeasure.main(argv) == 0
    first = presets.registry(str(registry))["tiny"]["metrics"]["evaluation_seconds"]
    records = sorted(passes.glob("log_likelihood-*.json"))
    assert len(records) == 2 and first < 1000  # the entry's binarization seed, then 0
    for record in records:
        record.write_text(json.dumps({**json.loads(record.read_text()), "seconds": 1000.0}))
    assert remeasure.main(argv) == 0
    again = presets.registry(str(registry))["tiny"]["metrics"]["evaluation_seconds"]
    assert 2000 <= again < 2000 + 1000
