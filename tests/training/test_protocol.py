"""The protocol's arithmetic and records: combined uncertainty, wording, spreads, counted test evaluations."""

import json
import math

import numpy as np
import pytest

from vae_zoo import cli, evaluation
from vae_zoo.training import protocol


def test_combined_uncertainty_adds_variances_and_divides_by_what_is_averaged():
    assert protocol.combined_uncertainty(0.3, 0.4) == pytest.approx(0.5)  # 3-4-5
    assert protocol.combined_uncertainty(0.3, 0.4, 1.2) == pytest.approx(1.3)  # sqrt(0.09 + 0.16 + 1.44)
    assert protocol.combined_uncertainty(0.3, 0.4, 1.2, seeds=4) == pytest.approx(
        math.sqrt(0.09 + 0.16 + 0.36)
    )
    assert protocol.combined_uncertainty(0.3, 0.4, binarizations=4) == pytest.approx(math.sqrt(0.09 + 0.04))
    with pytest.raises(ValueError, match=r"seeds must be the number of values a figure averages .* got 0"):
        protocol.combined_uncertainty(0.3, seed_sd=1.0, seeds=0)
    metrics = {
        "test_nll_standard_error": 0.3,
        "test_nll_by_binarization_seed": {"sd": 0.4},
        "test_nll_by_training_seed": {"sd": 1.2},
    }
    assert protocol.entry_uncertainty(metrics) == pytest.approx(1.3)


def test_paired_standard_error_is_the_standard_error_of_the_differences():
    a = np.array([10.0, 20.0, 30.0, 40.0])
    b = np.array([9.0, 21.0, 28.0, 41.0])  # a - b = 1, -1, 2, -1: mean 0.25, sd 1.5
    assert evaluation.paired_standard_error(a, b) == pytest.approx(1.5 / 2)
    unpaired = math.sqrt(evaluation.standard_error(a) ** 2 + evaluation.standard_error(b) ** 2)
    assert unpaired == pytest.approx(9.2949, abs=1e-4)  # the per-example difficulty both share
    with pytest.raises(ValueError, match=r"same examples, got shapes \(4,\) and \(3,\)"):
        evaluation.paired_standard_error(a, b[:3])


def test_difference_uncertainty_paired_replaces_both_standard_errors():
    u_a = protocol.combined_uncertainty(0.76, 0.2)
    assert protocol.difference_uncertainty(u_a, 0.76) == pytest.approx(math.sqrt(2 * 0.76**2 + 0.04))
    paired = protocol.difference_uncertainty(
        u_a, 0.76, paired_standard_error=0.1, shared_standard_error=(0.76, 0.76)
    )
    assert paired == pytest.approx(math.sqrt(0.04 + 0.01))  # sd over binarizations and the paired SE remain
    with pytest.raises(ValueError, match="give shared_standard_error"):
        protocol.difference_uncertainty(u_a, 0.76, paired_standard_error=0.1)


def test_wording_needs_a_margin_beyond_z_uncertainties():
    assert protocol.wording(226.62, 226.7, 0.76) == "on par with"
    assert protocol.wording(226.0, 228.0, 0.5) == "better than"  # a margin of 2.0 against 2 x 0.5
    assert protocol.wording(226.0, 227.0, 0.5) == "on par with"  # exactly 2 uncertainties: not beyond
    assert protocol.wording(52.71, 52.30, 0.49) == "on par with"
    assert protocol.wording(52.71, 52.30, 0.1) == "worse than"
    assert protocol.wording(0.9, 0.8, 0.01, lower_is_better=False) == "better than"
    with pytest.raises(ValueError, match="uncertainty must be a finite number >= 0, got nan"):
        protocol.wording(1.0, 2.0, float("nan"))


def test_spread_over_seeds():
    spread = protocol.spread({0: 226.0, 1: 227.0, 2: 228.5})
    assert spread["values"] == {"0": 226.0, "1": 227.0, "2": 228.5}
    assert spread["mean"] == pytest.approx(227.1666667)
    assert spread["sd"] == pytest.approx(np.std([226, 227, 228.5], ddof=1))
    assert protocol.spread({3: 1.0})["sd"] is None


def test_test_evaluations_are_counted_in_the_run(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"validation": {"negative_elbo": 1.0}}))
    assert (
        protocol.record_test_evaluation(
            str(tmp_path), "vae-zoo evaluate", "vae-zoo evaluate RUN --split test"
        )
        == 1
    )
    assert protocol.record_test_evaluation(str(tmp_path), "publish", "python -m ...", examples=40) == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["by"] for r in metrics["test_evaluations"]] == ["vae-zoo evaluate", "publish"]
    assert metrics["test_evaluations"][1]["examples"] == 40 and metrics["validation"] == {
        "negative_elbo": 1.0
    }
    assert protocol.record_test_evaluation(str(tmp_path / "nothing"), "publish", "x") is None


def test_validation_figures_are_required():
    good = {"validation": {"negative_elbo": 1.0, "kl": 0.5, "reconstruction": 0.5}}
    protocol.check_validation_metrics(good, "run")
    with pytest.raises(ValueError, match=r"run/metrics.json lacks the validation figures validation.kl: "):
        protocol.check_validation_metrics(
            {"validation": {"negative_elbo": 1.0, "reconstruction": 0.5}}, "run"
        )
    with pytest.raises(
        ValueError, match="validation.negative_elbo, validation.kl, validation.reconstruction"
    ):
        protocol.check_validation_metrics({"test": good["validation"]}, "run")


def test_two_entries_are_compared_on_the_same_examples(tmp_path, capsys):
    base = np.linspace(100.0, 300.0, 50)  # per-image difficulty, shared by both entries
    wobble = np.tile([0.05, -0.05], 25)
    (tmp_path / "measurements").mkdir()
    np.save(tmp_path / "measurements" / "a.npy", base - 0.3 + wobble)
    np.save(tmp_path / "measurements" / "b.npy", base)
    data = {"dataset": "fashion_mnist", "preprocessing": {"test_binarize": "static", "seed": 0}}

    def entry(file, sd_binarization):
        metrics = {
            "test_nll_per_example_file": f"measurements/{file}",
            "test_nll_standard_error": 8.2,
            "test_nll_by_binarization_seed": {"sd": sd_binarization},
        }
        return {**data, "metrics": metrics}

    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"a": entry("a.npy", 0.04), "b": entry("b.npy", 0.03)}))
    result = protocol.compare_entries("a", "b", str(registry))
    assert result["difference"] == pytest.approx(-0.3)
    assert result["paired_standard_error"] == pytest.approx(0.05 * np.sqrt(50 / 49) / np.sqrt(50))
    # sqrt(paired^2 + sd_a^2 + sd_b^2): the shared 8.2 nats of per-image standard error cancel
    assert result["uncertainty"] == pytest.approx(
        np.sqrt(result["paired_standard_error"] ** 2 + 0.04**2 + 0.03**2)
    )
    assert result["wording"] == "better than"  # 0.3 against 2 x 0.05; unpaired (11.6) it would be "on par"
    assert cli.main(["zoo", "compare", "a", "b", "--registry", str(registry)]) == 0
    assert "a is better than b: -0.30 ± 0.05 nats" in capsys.readouterr().out
    other = {**entry("b.npy", 0.03), "preprocessing": {"test_binarize": "static", "seed": 1}}
    registry.write_text(json.dumps({"a": entry("a.npy", 0.04), "b": other}))
    with pytest.raises(ValueError, match="measured on other test data"):
        protocol.compare_entries("a", "b", str(registry))
    registry.write_text(json.dumps({"a": entry("a.npy", 0.04), "b": {**data, "metrics": {}}}))
    with pytest.raises(ValueError, match="entry 'b' has no per-example test NLLs"):
        protocol.compare_entries("a", "b", str(registry))


def test_every_shipped_entry_has_a_protocol_block_as_publish_writes_it():
    from vae_zoo import presets

    seeds = {"binarization": None, "training": [0]}
    keys = set(
        protocol.protocol_block({"epochs": 1}, {}, "r", {}, seeds, {"num_samples": 1, "num_examples": 1})
    )
    for name, e in presets.registry().items():
        p, m = e.get("protocol", {}), e["metrics"]
        assert set(p) == keys, name
        assert p["selection_split"] == "validation" and p["test_evaluations"] >= 1 and p["training_seeds"], (
            name
        )
        assert (p["estimator"]["num_samples"], p["estimator"]["num_examples"]) == (
            m["test_nll_num_samples"],
            m["test_nll_num_examples"],
        ), name
        # the seeds behind the metrics: the entry's own, and those of the recorded spreads
        own = e["preprocessing"]["seed"]
        binarized = e["preprocessing"].get("test_binarize") == "static"
        spread = {int(s) for s in (m.get("test_nll_by_binarization_seed") or {}).get("values", {})}
        assert p["test_binarization_seeds"] == (sorted({own, *spread}) if binarized else None), name
        spread = {int(s) for s in (m.get("test_nll_by_training_seed") or {}).get("values", {})}
        assert p["training_seeds"] == sorted({own, *spread}), name
        assert p["recipe"] == e["recipe"] and p["test_informed_choices"], (
            name
        )  # disclosed, or said to be unknown
