"""Pretrained zoo: every shipped entry loads offline, reproduces its recorded numbers, refuses tampered
files."""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import vae_zoo
from vae_zoo import kinds, presets
from vae_zoo.training import protocol

SHIPPED = sorted(presets.registry())
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_registry_entries_are_complete():
    assert SHIPPED, "no shipped presets"
    for name, e in presets.registry().items():
        for key in (
            "description",
            "model_class",
            "config",
            "dataset",
            "preprocessing",
            "recipe",
            "weights",
            "metrics",
            "evaluation_command",
            "data_license",
            "vae_zoo_version",
            "train_seconds",
            "parameters",
            "environment",
        ):
            assert key in e, (name, key)
        for key in ("tensorflow", "keras", "tensorflow_probability", "python", "machine"):
            assert key in e["environment"], (name, key)
        assert os.path.exists(os.path.join(REPO, e["recipe"])), e["recipe"]
        assert len(e["weights"]["sha256"]) == 64
        # the sentence entry's two 36k-token embeddings and its softmax are most of its 75 MiB
        assert os.path.getsize(presets.weights_path(name)) == e["weights"]["bytes"] < 96 * 2**20


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_entry_loads_offline_and_reproduces_its_numbers(name):
    e = presets.entry(name)
    model = vae_zoo.load(name)
    assert type(model).__name__ == e["model_class"]
    assert e["parameters"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    x = kinds.preset_data(e, model)[:1000]  # images binarized once with the run's seed; sentences tokenized
    model.compile()  # presets come uncompiled
    logs = model.evaluate(x, batch_size=500, verbose=0, return_dict=True)
    assert -logs["elbo"] == pytest.approx(e["metrics"]["test_first_1000_negative_elbo"], abs=0.5)
    assert model.sample(4, seed=0).shape == (4, *model.data_shape)


def test_from_preset_then_fine_tune_one_step(fashion_train):
    name = SHIPPED[0]
    cls = getattr(vae_zoo.models, presets.entry(name)["model_class"])
    model = cls.from_preset(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), steps_per_execution=1)
    before = [w.numpy().copy() for w in model.trainable_weights]
    x = (fashion_train[:128] > 127).astype("float32")
    history = model.fit(x, batch_size=128, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and int(model.optimizer.iterations.numpy()) == 1
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.trainable_weights))


def test_wrong_class_and_unknown_name():
    with pytest.raises(ValueError, match="Unknown preset 'dense_mnist'. Known presets: " + SHIPPED[0]):
        vae_zoo.load("dense_mnist")
    dense = next(name for name in SHIPPED if presets.entry(name)["model_class"] == "DenseVAE")
    with pytest.raises(ValueError, match=f"preset '{dense}' is a DenseVAE, not a ConvVAE"):
        vae_zoo.models.ConvVAE.from_preset(dense)
    assert isinstance(vae_zoo.models.ConvVAE.from_preset("beta_vae_fashion_mnist"), vae_zoo.models.BetaVAE)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_tampered_weights_are_refused(tmp_path, monkeypatch, damage):
    name = SHIPPED[0]
    e = presets.entry(name)
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    path = weights_dir / e["weights"]["file"]
    shutil.copy(os.path.join(presets.WEIGHTS_DIR, e["weights"]["file"]), path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    monkeypatch.setattr(presets.loader, "WEIGHTS_DIR", str(weights_dir))
    with pytest.raises(
        presets.PresetChecksumError,
        match=f"{path} has SHA-256 [0-9a-f]{{64}}, expected {e['weights']['sha256']}",
    ):
        vae_zoo.load(name)


def test_presets_command():
    result = subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", "presets"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in SHIPPED:
        assert name in result.stdout


def test_every_entry_exports_with_the_export_command(tmp_path):
    # One process per command, all at once: most of each is single-threaded tracing.
    commands = {
        name: [sys.executable, "-m", "vae_zoo.cli", "export", name, str(tmp_path / name)]
        for name in (*SHIPPED, "no_such_preset")
    }
    processes = {
        name: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, argv in commands.items()
    }
    try:
        outputs = {name: p.communicate(timeout=600) for name, p in processes.items()}
    finally:
        for p in processes.values():
            p.kill()
    for name in SHIPPED:
        assert processes[name].returncode == 0, outputs[name][1][-2000:]
        assert (tmp_path / name / "1" / "saved_model.pb").exists()
    missing = processes["no_such_preset"]
    assert (
        missing.returncode == 2 and f"or a preset name ({', '.join(SHIPPED)})" in outputs["no_such_preset"][1]
    )


def test_readme_table_states_each_entrys_recorded_numbers():
    readme = open(os.path.join(REPO, "README.md")).read()
    rows = {line.split("|")[1].strip(" `"): line for line in readme.splitlines() if line.startswith("| `")}
    for name, e in presets.registry().items():
        assert name in rows, f"README has no table row for preset {name}"
        m = e["metrics"]
        for key in ("test_nll", "test_negative_elbo", "test_first_1000_negative_elbo"):
            assert f"{m[key]:.2f}" in rows[name], (name, key, m[key])
        # the combined uncertainty, a lower bound ("≥") while a spread that applies is not measured yet
        cells = [cell.strip() for cell in rows[name].split("|")]
        combined = cells[4]
        pending = "not yet" in combined
        assert combined.startswith(f"{'≥' if pending else '±'} {protocol.entry_uncertainty(m):.2f}"), (
            name,
            combined,
        )
        # each spread in its place: "sd over n" measured, "not yet" to measure, "—" where it does not apply
        stated = combined.split("(", 1)[1].rstrip(")").split(", ")
        applicable = protocol.applicable_spreads(name, e)
        for key, cell in zip(("test_nll_by_binarization_seed", "test_nll_by_training_seed"), stated):
            if key in m:
                assert cell == f"{m[key]['sd']:.2f} over {len(m[key]['values'])}", (name, key, cell)
            else:
                assert cell == ("not yet" if key in applicable else "—"), (name, key, cell)
        assert f'vae_zoo.load("{name}")' in readme, f"README does not show the one-line load of {name}"
