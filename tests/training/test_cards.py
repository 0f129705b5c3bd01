"""The committed model cards are what the generator renders from the committed registry."""

import json
import os
import shutil

from vae_zoo import presets
from vae_zoo.training import card_rows, cards, protocol

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CARDS_DIR = os.path.join(REPO, "docs", "model_cards")


def test_committed_cards_match_the_registry():
    rendered = cards.render_all()
    assert sorted(rendered) == sorted(f"{name}.md" for name in presets.registry())
    assert cards.stale(CARDS_DIR, rendered) == [], (
        "docs/model_cards is out of date with vae_zoo/presets/registry.json: "
        "run `python -m vae_zoo.training.cards`"
    )


def test_a_changed_record_makes_its_card_stale(tmp_path):
    registry = json.load(open(presets.REGISTRY_FILE))
    name = sorted(registry)[0]
    registry[name]["metrics"]["test_nll"] += 0.5  # a re-measure that forgot to regenerate the cards
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry))
    out = tmp_path / "cards"
    shutil.copytree(CARDS_DIR, out)
    (out / "unrelated.md").write_text("# not a generated card\n")
    (out / "gone.md").write_text(cards.HEADER + "\n")  # a generated card of an entry the registry lost
    assert cards.stale(str(out), cards.render_all(str(path))) == sorted(["gone.md", f"{name}.md"])
    assert cards.main(["--registry", str(path), "--out", str(out)]) == 0
    assert cards.stale(str(out), cards.render_all(str(path))) == []
    assert (out / "unrelated.md").exists() and not (out / "gone.md").exists()
    assert cards.main(["--registry", str(path), "--out", str(out), "--check"]) == 0


def test_readme_links_every_card():
    readme = open(os.path.join(REPO, "README.md")).read()
    for name in presets.registry():
        assert f"(docs/model_cards/{name}.md)" in readme, (
            f"README's Pretrained zoo section does not link the card of {name}"
        )


def test_a_card_tells_a_spread_not_measured_from_one_that_does_not_apply():
    registry = presets.registry()
    beta, sentences = registry["beta_vae_fashion_mnist"], registry["lstm_wordnet_sentences"]
    unmeasured = {k: v for k, v in beta["metrics"].items() if k != "test_nll_by_binarization_seed"}
    beta_row = card_rows.noise_rows(
        unmeasured, "n", protocol.applicable_spreads("beta_vae_fashion_mnist", beta)
    )
    # a binarized image entry that is not a headline: binarizations still to measure, no second seed
    assert "; not measured: binarizations; does not apply: training seeds)" in beta_row[-1]
    assert beta_row[-1].split("| ")[2].startswith("≥ ")  # a lower bound while a spread is missing
    text = card_rows.noise_rows(
        sentences["metrics"], "n", protocol.applicable_spreads("lstm_wordnet_sentences", sentences)
    )
    assert "(standard error over examples; does not apply: binarizations, training seeds)" in text[-1]
    assert text[-1].split("| ")[2].startswith("± ")
    # a headline entry is owed both spreads
    assert protocol.applicable_spreads("conv_fashion_mnist", registry["conv_fashion_mnist"]) == [
        "test_nll_by_binarization_seed",
        "test_nll_by_training_seed",
    ]


def test_a_hierarchy_card_shows_where_its_kl_goes():
    m = {"kl_per_layer": [11.934, 3.186], "kl_units_per_layer": [None, 3]}
    row = cards.kl_by_layer_row(m, (32, 32), "all 10,000")
    assert row == (
        "| KL by stochastic layer, top first (dimensions with KL > 0.01) | 11.93 (its prior is not per "
        "dimension); 3.19 (3 of 32) | all 10,000 |"
    )
    # a hierarchy's metrics section carries the row, with its layers' sizes from the model's facts
    entry = json.loads(json.dumps(presets.registry()["conv_fashion_mnist"]))
    entry["metrics"].update(kl_per_layer=[4.0, 0.5], kl_units_per_layer=[3, 1])
    section = cards._metrics_section("hvae", entry, {"latent_dim": 5, "latent_dims": (3, 2)})
    assert "0.01) | 4.00 (3 of 3); 0.50 (1 of 2) | all n = 10,000 |" in "\n".join(section)
    del entry["metrics"]["kl_per_layer"]  # one stochastic layer: no such row
    section = cards._metrics_section("conv", entry, {"latent_dim": 5, "latent_dims": None})
    assert not any("KL by stochastic layer" in line for line in section)
