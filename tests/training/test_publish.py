"""Publishing a tiny run into a temporary registry: the entry, its protocol block, baseline and card."""

import json
import os
import platform

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tiny_entry import (
    RECIPE,
    SEED,
    TINY_PARAMETERS,
    VALIDATION,
    binarized_test_images,
    copied_registry,
    copied_run,
    publish_argv,
)
from vae_zoo import evaluation, presets
from vae_zoo.training import cards, publish, remeasure


def test_publish_records_the_protocol_and_the_binarization_spread(published):
    registry, model = published
    e = presets.entry("tiny", str(registry))
    run = registry.parent.parent / "run"
    recorded = json.loads((run / "metrics.json").read_text())["test_evaluations"]
    assert len(recorded) == 1 and recorded[0]["by"] == "publish"
    assert "--binarization-seeds 0 7" in recorded[0]["command"]
    assert e["protocol"] == {
        "selection_split": "validation",
        "run_selection": "no early stopping: the recipe's fixed budget of 7 epochs, final weights",
        "selected_on_validation": ["latent_dim 2 over 4 (validation -ELBO)"],
        "test_informed_choices": ["none"],
        "test_evaluations": 1,
        "test_binarization_seeds": [0, SEED, 7],
        "training_seeds": [SEED],
        "estimator": {
            "name": "importance-weighted NLL (IWAE bound, q(z|x) proposal)",
            "num_samples": 3,
            "num_examples": 40,
        },
        "recipe": RECIPE,
        "source": "recorded by training/publish.py from the run's config.yaml and metrics.json",
    }
    by_seed = {}
    for s in (0, SEED, 7):
        ll = evaluation.log_likelihood(
            model, binarized_test_images(s)[:40], num_samples=3, seed=SEED, progress=False
        )
        by_seed[s] = float(-ll.mean())
    spread = e["metrics"]["test_nll_by_binarization_seed"]
    assert spread["values"] == pytest.approx({str(s): v for s, v in by_seed.items()}, rel=1e-6)
    assert spread["values"][str(SEED)] == pytest.approx(e["metrics"]["test_nll"], rel=1e-6)
    assert (
        spread["sd"] == pytest.approx(np.std(list(by_seed.values()), ddof=1), rel=1e-5)
        and spread["sd"] > 0.01
    )
    saved = np.load(registry.parent / e["metrics"]["test_nll_per_example_file"])
    assert saved.shape == (40,) and saved.mean() == pytest.approx(e["metrics"]["test_nll"], rel=1e-6)


def test_publish_refuses_a_run_without_validation_figures(published, tmp_path):
    source, _ = published
    run = copied_run(source, tmp_path)
    text = source.read_text()
    cases = [
        ({"validation": {"negative_elbo": 1.0, "reconstruction": 1.0}}, "validation.kl"),
        ({"test": VALIDATION}, "validation.negative_elbo, validation.kl, validation.reconstruction"),
    ]
    for metrics, missing in cases:
        (run / "metrics.json").write_text(json.dumps(metrics))
        argv = [str(run), "tiny", "--registry", str(source), "--recipe", RECIPE, "--description", "d"]
        argv += ["--num-samples", "2"]
        with pytest.raises(ValueError, match=f"lacks the validation figures {missing}: "):
            publish.main(argv)
    assert source.read_text() == text and "test_evaluations" not in json.loads(
        (run / "metrics.json").read_text()
    )


def test_publish_refuses_an_undisclosed_test_informed_record_before_measuring(published, tmp_path):
    """An entry's protocol block with no test-informed line reads as undisclosed (hvae_fashion_mnist was
    published so): publish asks for `--test-informed none` instead of writing an empty list."""
    source, _ = published
    registry = copied_registry(source, tmp_path)
    run = copied_run(source, tmp_path)
    before = (registry.read_text(), (run / "metrics.json").read_text())
    argv = publish_argv(run, registry, "--num-samples", "2", "--nll-examples", "10", "--mi-examples", "10")
    argv.remove("--test-informed")
    argv.remove("none")
    with pytest.raises(ValueError, match="or --test-informed none: .* got none"):
        publish.main(argv)
    assert (registry.read_text(), (run / "metrics.json").read_text()) == before  # nothing measured
    assert publish.main([*argv, "--test-informed", "the seed over 3 others, on test NLL"]) == 0
    choices = presets.entry("tiny", str(registry))["protocol"]["test_informed_choices"]
    assert choices == ["the seed over 3 others, on test NLL"]


def test_publish_records_the_standard_error_environment_and_parameters(published):
    registry, model = published
    e = presets.entry("tiny", str(registry))
    m = e["metrics"]
    ll = evaluation.log_likelihood(
        model, binarized_test_images(SEED)[:40], num_samples=3, seed=SEED, progress=False
    )
    assert m["test_nll"] == pytest.approx(-ll.mean(), rel=1e-6)
    assert m["test_nll_standard_error"] == pytest.approx(np.std(ll, ddof=1) / np.sqrt(40), rel=1e-5)
    assert (m["test_nll_num_samples"], m["test_nll_num_examples"], m["test_num_examples"]) == (3, 40, 10000)
    assert m["mutual_information_num_examples"] == 20 and m["mutual_information"] <= np.log(20) + 1e-6
    assert e["parameters"] == TINY_PARAMETERS
    assert e["train_seconds"] == 12.5 and e["preprocessing"]["seed"] == SEED
    env = e["environment"]
    assert (env["tensorflow"], env["keras"], env["tensorflow_probability"]) == (
        tf.__version__,
        keras.__version__,
        tfp.__version__,
    )
    assert env["python"] == platform.python_version()
    assert env["machine"]["cores"] == os.cpu_count() and env["machine"]["cpu"]
    assert "--num-samples 3 --nll-examples 40 --mi-examples 20" in e["evaluation_command"]
    assert presets.verify(str(registry.parent / "weights" / "tiny.weights.h5"), e["weights"]["sha256"])
    assert presets.registry(str(registry))["other"]["description"] == "another entry"


def test_card_of_the_published_entry(published):
    registry, _ = published
    e = presets.entry("tiny", str(registry))
    card = cards.render("tiny", e)
    m = e["metrics"]
    assert f"**{m['test_nll']:.2f}** ± {m['test_nll_standard_error']:.2f} (standard error" in card
    assert "k = 3 samples" in card and "the first n = 40 |" in card
    assert f"at most log 20 = {np.log(20):.2f}" in card
    assert f"Trainable parameters: {TINY_PARAMETERS:,}." in card
    assert (
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, TensorFlow Probability {tfp.__version__}"
        in card
    )
    assert f"binarized once (`static`) with seed {SEED}" in card
    assert (
        open(os.path.join(cards.TRAINING_DIR, "recipes", "dense_fashion_mnist_2d.yaml")).read().strip()
        in card
    )
    assert (
        "| `log_likelihood` | `x` float32 [B, 28, 28, 1], `seed` int64 [B] | `log_likelihood` float32 [B] |"
        in card
    )
    assert (
        "| `encode` | `x` float32 [B, 28, 28, 1] | `mean` float32 [B, 2], `stddev` float32 [B, 2] |" in card
    )


def test_publish_records_a_baseline_measured_on_the_same_examples(published, tmp_path):
    source, _ = published
    registry = copied_registry(source, tmp_path)
    run = copied_run(source, tmp_path)
    baseline = {
        "model": "a language model",
        "test_nll": 500.25,
        "test_num_examples": 40,
        "command": "python make_baseline.py",
    }
    (run / "baseline.json").write_text(json.dumps(baseline))
    argv = publish_argv(run, registry, "--num-samples", "3", "--nll-examples", "40", "--mi-examples", "20")
    argv += ["--baseline", str(run / "baseline.json")]
    assert publish.main(argv) == 0
    e = presets.entry("tiny", str(registry))
    assert e["baseline"] == baseline
    assert "--mi-examples 20 --baseline RUN_DIR/BASELINE.json --description" in e["evaluation_command"]
    card = cards.render("tiny", e)
    # no per-example NLLs and no standard error of the baseline: the difference's uncertainty is the entry's
    # SE alone
    difference, se = e["metrics"]["test_nll"] - 500.25, e["metrics"]["test_nll_standard_error"]
    row = "| baseline: a language model, exact NLL | 500.25 "
    row += f"(this entry's NLL minus it: {difference:+.2f} ± {se:.2f}, "
    assert (
        row + "unpaired: the per-example NLLs were not kept; this entry is **worse than** the baseline"
        in card
    )
    assert "The baseline was trained and measured by `python make_baseline.py`." in card
    # a remeasure on other examples than the baseline's is refused, and writes nothing
    text = registry.read_text()
    with pytest.raises(ValueError, match="baseline measured on 40 test examples; measuring on 30"):
        remeasure.main(["tiny", "--registry", str(registry), "--num-samples", "2", "--nll-examples", "30"])
    assert registry.read_text() == text
    # a baseline of other examples, or without its command, is refused before anything is measured
    for wrong, message in (
        ({**baseline, "test_num_examples": 10000}, "measured on 10000 test examples, but"),
        ({k: v for k, v in baseline.items() if k != "command"}, "missing command"),
    ):
        (run / "baseline.json").write_text(json.dumps(wrong))
        with pytest.raises(ValueError, match=message):
            publish.main(argv)
    assert registry.read_text() == text


def test_publish_pairs_the_baseline_per_example(published, tmp_path):
    source, _ = published
    registry = copied_registry(source, tmp_path)
    run = copied_run(source, tmp_path)
    own = np.load(source.parent / presets.entry("tiny", str(source))["metrics"]["test_nll_per_example_file"])
    # a baseline 0.5 nats better on every image but for a known wobble: the paired SE is the wobble's alone
    wobble = np.tile([0.1, -0.1, 0.3, -0.3], 10)
    np.save(run / "lm_nll.npy", own - 0.5 + wobble)
    baseline = {
        "model": "LM",
        "test_nll": float((own - 0.5 + wobble).mean()),
        "test_num_examples": 40,
        "test_nll_standard_error": float(np.std(own, ddof=1) / np.sqrt(40)),
        "command": "python lm.py",
        "test_nll_file": "lm_nll.npy",
    }
    (run / "baseline.json").write_text(json.dumps(baseline))
    argv = publish_argv(run, registry, "--num-samples", "3", "--nll-examples", "40", "--mi-examples", "20")
    argv += ["--baseline", str(run / "baseline.json")]
    assert publish.main(argv) == 0
    e = presets.entry("tiny", str(registry))
    paired = e["baseline"]["paired"]
    assert paired["nll_difference"] == pytest.approx(0.5 - wobble.mean(), abs=1e-4)  # float32 re-measure
    assert paired["paired_standard_error"] == pytest.approx(np.std(wobble, ddof=1) / np.sqrt(40), rel=1e-3)
    unpaired = np.hypot(e["metrics"]["test_nll_standard_error"], baseline["test_nll_standard_error"])
    assert (
        paired["paired_standard_error"] < unpaired / 5
    )  # the images' shared difficulty cancels (0.036 vs 0.28)
    assert np.array_equal(np.load(registry.parent / e["baseline"]["test_nll_file"]), own - 0.5 + wobble)
    card = cards.render("tiny", e)
    assert f"paired standard error over the same examples {paired['paired_standard_error']:.2f}" in card
    # 0.5 nats against 2 x 0.04: the entry is worse than this baseline, and the card says so
    assert "this entry is **worse than** the baseline" in card
    # a file of other examples is refused
    np.save(run / "lm_nll.npy", own[:30])
    with pytest.raises(
        ValueError, match=r"lm_nll.npy\) hold 30 values, but this entry's NLL is measured on 40"
    ):
        publish.main(argv)


def test_a_published_sentence_entry_keeps_its_vocabulary_as_an_asset_file(tmp_path):
    """publish writes a sentence model's vocabulary beside its weights and names it in the config with its
    SHA-256, as the shipped entry keeps it (fails when the config carries the word list inline)."""
    import hashlib

    import vae_zoo
    from vae_zoo.text import TextCodec
    from vae_zoo.training.publish import config_record

    codec = TextCodec.from_corpus(["a cat sat", "a dog ran on the mat"], max_length=6)
    model = vae_zoo.models.SequenceVAE(
        vocabulary=codec.vocabulary, max_length=6, embedding_dim=4, hidden_units=8, latent_dim=2, seed=0
    )
    config = config_record(model, str(tmp_path), "tiny_sentences")
    path = tmp_path / "tiny_sentences.vocabulary.txt"
    assert config["vocabulary"] == {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert path.read_text(encoding="utf-8").split("\n")[:-1] == list(model.codec.vocabulary)
    images = vae_zoo.models.DenseVAE((4, 4, 1), latent_dim=2, hidden_units=(8,), seed=0)
    assert config_record(images, str(tmp_path), "tiny_images") == images.get_config()


def test_a_republished_entry_keeps_its_weights_distribution(tmp_path, monkeypatch):
    """An entry whose weights ship in a separate distribution (the sentence entry: README "Install") is
    republished into that distribution's folder, not beside the registry, where it would put its
    79 MB back into the library's wheel; refused when that distribution is not installed."""
    from vae_zoo.presets import loader

    registry_file = tmp_path / "registry.json"
    entries = {
        "beside": {"weights": {"file": "beside.weights.h5", "sha256": "0" * 64}},
        "elsewhere": {
            "weights": {
                "file": "elsewhere.weights.h5",
                "sha256": "0" * 64,
                "distribution": "vae-zoo-x-weights",
            }
        },
    }
    registry_file.write_text(json.dumps(entries))
    assert publish.shipped_in_distribution(str(tmp_path / "none.json"), "elsewhere", "e.weights.h5") is None
    assert publish.shipped_in_distribution(str(registry_file), "beside", "beside.weights.h5") is None
    assert publish.shipped_in_distribution(str(registry_file), "new", "new.weights.h5") is None
    with pytest.raises(ValueError, match=r"pip install -e \./weights/vae-zoo-x-weights"):
        publish.shipped_in_distribution(str(registry_file), "elsewhere", "elsewhere.weights.h5")
    package = tmp_path / "vae_zoo_x_weights"
    package.mkdir()
    (package / "elsewhere.weights.h5").write_bytes(b"old")
    monkeypatch.setattr(
        loader, "installed_weights", lambda name, file: str(package / file) if name == "elsewhere" else None
    )
    assert publish.shipped_in_distribution(str(registry_file), "elsewhere", "elsewhere.weights.h5") == (
        "vae-zoo-x-weights",
        str(package),
    )


def test_a_publish_that_resumes_its_passes_counts_what_they_cost_before(published, tmp_path):
    """`evaluation_seconds` is the measurement's cost over every session: a publish that reads back
    passes saved by earlier sessions adds the seconds their JSON files record (here 1,000 each, as if
    three sessions had spent them), not only its own wall clock."""
    source, _ = published
    registry = copied_registry(source, tmp_path)
    run = copied_run(source, tmp_path)
    passes = tmp_path / "passes"
    flags = [
        "--num-samples",
        "2",
        "--nll-examples",
        "30",
        "--mi-examples",
        "10",
        "--binarization-seeds",
        "0",
        "7",
    ]
    flags += ["--selected-on-validation", "none", "--resume-dir", str(passes)]
    assert publish.main(publish_argv(run, registry, *flags)) == 0
    first = presets.registry(str(registry))["tiny"]["metrics"]["evaluation_seconds"]
    records = sorted(passes.glob("log_likelihood-*.json"))
    assert len(records) == 3 and first < 1000  # the entry's binarization seed, then 0 and 7
    for record in records:
        record.write_text(json.dumps({**json.loads(record.read_text()), "seconds": 1000.0}))
    assert publish.main(publish_argv(run, registry, *flags)) == 0
    again = presets.registry(str(registry))["tiny"]["metrics"]["evaluation_seconds"]
    assert 3000 <= again < 3000 + 1000
