"""The command line on a sentence model: `vae-zoo train`, `evaluate` and `export` of a SequenceVAE on
WordNet sentences, each in a subprocess.
"""

import json
import os
import subprocess
import sys
import zipfile

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_train_evaluate_export_commands(tmp_path):
    run = tmp_path / "run"
    train = subprocess.run(
        [
            sys.executable,
            "-m",
            "vae_zoo.cli",
            "train",
            "--model",
            "sequence",
            "--dataset",
            "wordnet_sentences",
            "--max-tokens",
            "500",
            "--max-length",
            "12",
            "--latent-dim",
            "4",
            "--hidden-units",
            "16",
            "--embedding-dim",
            "8",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "5",
            "--batch-size",
            "32",
            "--free-bits",
            "0.1",
            "--no-tensorboard",
            "--verbose",
            "2",
            "--mixed-precision",
            "--out",
            str(run),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert "wordnet_sentences [train]: 148220 sentences" in train.stdout
    assert json.loads((run / "metrics.json").read_text())["precision_policy"] == "mixed_bfloat16"  # on a CPU
    assert len((run / "samples.txt").read_text().splitlines()) == 33  # 3 temperatures x (header + 10)
    assert (run / "reconstructions.txt").read_text().startswith("in:  ")
    # no --posterior: the family's default, BN-VAE's batch-normalized means
    with zipfile.ZipFile(run / "model.keras") as archive:
        saved = json.loads(archive.read("config.json"))["config"]["posterior"]["config"]
    assert saved["batch_norm_scale"] == 0.6
    evaluate = subprocess.run(
        [
            sys.executable,
            "-m",
            "vae_zoo.cli",
            "evaluate",
            str(run),
            "--dataset",
            "wordnet_sentences",
            "--num-samples",
            "3",
            "--max-examples",
            "40",
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    report = json.loads((run / "evaluation.json").read_text())
    assert report["num_examples"] == 40 and report["perplexity"] > 1 and report["tokens"] >= 40
    export = subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", "export", str(run), str(tmp_path / "exported")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert export.returncode == 0, export.stderr[-3000:]
    assert (tmp_path / "exported" / "1" / "assets.extra" / "tf_serving_warmup_requests").exists()
