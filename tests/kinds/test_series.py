"""The third data kind, real-valued series: the sunspot series through `vae-zoo train` and `vae-zoo
export`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip(
    "statsmodels", reason="the sunspot series is read from the statsmodels wheel's data files"
)

from vae_zoo import kinds  # noqa: E402
from vae_zoo.kinds import series  # noqa: E402


def test_windows_are_split_by_time_and_standardized_with_the_training_years():
    years = {split: series.load_series("sunspots", split)[0] for split in series.SPLITS}
    assert (years["train"].min(), years["train"].max(), years["validation"].min()) == (1700, 1919, 1920)
    assert (years["validation"].max(), years["test"].min(), years["test"].max()) == (1964, 1965, 2008)
    train = series.windows("sunspots", "train", 8)
    assert train.shape == (220 - 7, 8, 1) and train.dtype == np.float32
    flat = series.windows("sunspots", "train", 1).reshape(-1)
    assert abs(flat.mean()) < 1e-5 and abs(flat.std() - 1) < 1e-5
    with pytest.raises(ValueError, match="fewer than one window of max_length=50"):
        series.windows("sunspots", "test", 50)
    with pytest.raises(ValueError, match="Unknown series 'moon'. Valid: sunspots"):
        series.load_series("moon", "train")


def test_the_sequence_family_reads_series_when_the_dataset_is_one():
    import vae_zoo

    family = vae_zoo.models.get_family("sequence")
    assert kinds.kind_for_config(family, "sunspots").name == "series"
    assert kinds.kind_for_config(family, "wordnet_sentences").name == "sentences"
    model = vae_zoo.models.SequenceVAE(features=1, max_length=8, latent_dim=2, hidden_units=4, seed=0)
    assert kinds.kind_of_model(model).name == "series"


def test_train_and_export_from_the_command_line(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run, exported = str(tmp_path / "run"), str(tmp_path / "exported")
    flags = (
        "--model sequence --dataset sunspots --max-length 8 --batch-size 32 --hidden-units 16 --latent-dim 4"
    )
    flags += " --epochs 1 --steps-per-epoch 5 --verbose 0 --no-tensorboard"
    train = [sys.executable, "-m", "vae_zoo.cli", "train", *flags.split(), "--out", run]
    subprocess.run(train, check=True, env=env, cwd=tmp_path)
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert np.isfinite(metrics["validation"]["negative_elbo"]) and "test" not in metrics
    samples = np.loadtxt(os.path.join(run, "samples.csv"), delimiter=",")
    assert samples.shape == (8, 8)  # 8 windows of 8 steps, 1 feature
    subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", "export", run, exported], check=True, env=env, cwd=tmp_path
    )
    assert os.path.exists(os.path.join(exported, "1", "saved_model.pb"))
