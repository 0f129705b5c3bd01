"""The library's wheel stays under a package index's 100 MB limit: the sentence entry's weights are a
distribution of their own (weights/vae-zoo-sentence-weights), found through an entry point."""

import importlib.metadata
import os

import pytest

import vae_zoo
from vae_zoo import presets

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "lstm_wordnet_sentences"
DISTRIBUTION = "vae-zoo-sentence-weights"
#: below a package index's usual 100 MB file limit with room for the code and metadata (h5 barely compresses)
WHEEL_BUDGET = 95 * 10**6


def _bytes(folder):
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, dirs, names in os.walk(folder)
        for name in names
        if "__pycache__" not in root
    )


def test_each_distribution_fits_an_index():
    # what the library's wheel packs: the vae_zoo package and the folders installed inside it
    library = sum(_bytes(os.path.join(REPO, d)) for d in ("vae_zoo", "training", "export", "serving"))
    weights = _bytes(os.path.join(REPO, "weights", DISTRIBUTION))
    assert library < WHEEL_BUDGET and weights < WHEEL_BUDGET, (library, weights)


def test_the_sentence_weights_come_from_their_distribution():
    e = presets.entry(NAME)
    assert e["weights"]["distribution"] == DISTRIBUTION
    assert not os.path.exists(os.path.join(presets.WEIGHTS_DIR, e["weights"]["file"]))
    (point,) = importlib.metadata.entry_points(group="vae_zoo.weights", name=NAME)
    assert point.dist.name == DISTRIBUTION
    path = presets.weights_path(NAME)
    assert path == presets.loader.installed_weights(NAME, e["weights"]["file"])
    assert presets.checks.sha256(path) == e["weights"]["sha256"]


def test_a_missing_weights_distribution_is_named_with_its_install_command(monkeypatch):
    monkeypatch.setattr(presets.loader, "installed_weights", lambda name, file: None)
    with pytest.raises(
        FileNotFoundError,
        match=(
            f"preset '{NAME}': its weights \\({NAME}.weights.h5, 78,985,240 bytes\\) are not in the vae-zoo "
            f"wheel but in the separate distribution '{DISTRIBUTION}', which is not installed: "
            f"`pip install {DISTRIBUTION}` \\(from a checkout of vae-zoo: "
            f"`pip install ./weights/{DISTRIBUTION}`\\)"
        ),
    ):
        vae_zoo.load(NAME)
    assert (
        NAME in vae_zoo.list_presets()
    )  # listed and described without it: the vocabulary ships in the library
    vae_zoo.load("dense_fashion_mnist_2d")  # the other entries ship in the library's wheel
