"""Families by name: the README's one-file family trains and exports through the CLI; options that
do not apply to a family are refused; names are unique."""

import os
import re
import subprocess
import sys

import pytest

from vae_zoo.models import FAMILIES, DenseVAE, get_family, register_family
from vae_zoo.training import config as config_lib
from vae_zoo.training.run import family_settings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def readme_family():
    text = open(os.path.join(REPO, "README.md")).read()
    section = text[text.index("## A new model family in one file") :]
    return re.search(r"```python\n(# tiny_family.py\n.*?)```", section, re.S).group(1)


def vae_zoo_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", *args], env=ENV, capture_output=True, text=True, timeout=300
    )


def test_the_readme_family_trains_and_exports_from_its_own_file(tmp_path):
    code = readme_family()
    assert len(code.splitlines()) <= 32  # the README promises a short file
    module = tmp_path / "tiny_family.py"
    module.write_text(code)
    run = tmp_path / "run"
    train = vae_zoo_cli(
        "--family-module",
        str(module),
        "train",
        "--model",
        "tiny",
        "--width",
        "32",
        "--latent-dim",
        "2",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "3",
        "--batch-size",
        "32",
        "--no-tensorboard",
        "--verbose",
        "2",
        "--out",
        str(run),
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert (run / "model.keras").exists() and (run / "samples.png").exists()
    export = vae_zoo_cli("--family-module", str(module), "export", str(run), str(tmp_path / "exported"))
    assert export.returncode == 0, export.stderr[-3000:]
    assert (tmp_path / "exported" / "1" / "saved_model.pb").exists()
    # a family flag another family does not take is refused before anything runs
    wrong = vae_zoo_cli(
        "--family-module",
        str(module),
        "train",
        "--model",
        "dense",
        "--width",
        "3",
        "--out",
        str(tmp_path / "w"),
    )
    assert wrong.returncode == 2 and "--width does not apply to --model dense (DenseVAE)" in wrong.stderr
    missing = vae_zoo_cli("--family-module", str(tmp_path / "nope.py"), "train")
    assert missing.returncode == 2 and "nope.py: no such file" in missing.stderr


def test_family_settings_are_parsed_by_the_family_and_refused_elsewhere():
    assert family_settings(get_family("dense"), {"hidden_units": "32,16"}) == {"hidden_units": [32, 16]}
    assert family_settings(get_family("conv"), {"hidden_units": "32", "filters": "8,16"}) == {
        "hidden_units": 32,
        "filters": [8, 16],
    }
    with pytest.raises(
        ValueError,
        match="--filters does not apply to --model dense \\(DenseVAE\\); "
        "its own settings: --hidden-units, --activation",
    ):
        family_settings(get_family("dense"), {"filters": "8,16"})
    with pytest.raises(ValueError, match="--capacity does not apply to --model conv"):
        family_settings(get_family("conv"), {"capacity": "25"})
    with pytest.raises(ValueError, match="--hidden-units 'wide': width of the dense layer"):
        family_settings(get_family("conv"), {"hidden_units": "wide"})
    with pytest.raises(
        ValueError, match="model_kwargs \\['filters'\\] do not apply to model 'dense' \\(DenseVAE\\)"
    ):
        config_lib.resolve(overrides={"model": "dense", "model_kwargs": {"filters": [8]}})


def test_names_are_unique_and_listed():
    assert list(FAMILIES)[:4] == ["dense", "conv", "beta", "sequence"]
    with pytest.raises(ValueError, match="model family 'dense' is already registered by DenseVAE"):
        register_family("dense")(type("OtherVAE", (DenseVAE,), {}))
    with pytest.raises(ValueError, match="Unknown model 'gan'. Valid: dense, conv, beta, sequence"):
        get_family("gan")
