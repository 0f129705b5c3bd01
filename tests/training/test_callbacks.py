"""Callbacks: KL schedules and annealing, the NaN guard, atomic backups."""

import keras
import numpy as np
import pytest

import vae_zoo
from vae_zoo.training import callbacks as cb

from training_testing import ENV, QUICK, assert_same_weights, run_cli, weights_of  # noqa: F401


def test_kl_schedules():
    assert [cb.kl_weight(s, "linear", 10) for s in (0, 5, 10, 20)] == [0.0, 0.5, 1.0, 1.0]
    assert cb.kl_weight(50, "sigmoid", 100) == pytest.approx(0.5)
    assert cb.kl_weight(0, "sigmoid", 100) < 0.01 and cb.kl_weight(100, "sigmoid", 100) > 0.99
    # 4 cycles of 25 steps: rise over the first 12.5 steps, hold at 1, restart
    values = [cb.kl_weight(s, "cyclical", 100, cycles=4, ratio=0.5) for s in (0, 5, 12.5, 20, 25, 30, 100)]
    assert values == pytest.approx([0.0, 0.4, 1.0, 1.0, 0.0, 0.4, 1.0])
    with pytest.raises(ValueError, match="Unknown KL annealing schedule 'cosine'"):
        cb.kl_weight(0, "cosine", 10)


def test_kl_annealing_drives_model_beta(fashion_train):
    import vae_zoo

    model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), seed=0)
    model.compile(optimizer="adam", steps_per_execution=1)
    history = model.fit(
        fashion_train[:640], batch_size=64, epochs=2, verbose=0, callbacks=[cb.KLAnnealing("linear", steps=40, max_beta=2.0)]
    ).history
    # beta is set before each batch from the step count: last batch of epoch 1 is step 9, of epoch 2 step 19
    assert history["beta"] == pytest.approx([2.0 * 9 / 40, 2.0 * 19 / 40])


def test_kl_annealing_callback_refuses_models_without_a_kl_weight(fashion_train):
    import vae_zoo

    for model in (
        vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), objective="iwae", num_samples=3, seed=0),
        vae_zoo.models.BetaVAE((28, 28, 1), latent_dim=2, filters=(4, 4), hidden_units=8, capacity=10.0, seed=0),
    ):
        model.compile(optimizer="sgd", steps_per_execution=1)
        with pytest.raises(ValueError, match="KL annealing sets model.beta, the KL weight of the ELBO, but this"):
            model.fit(fashion_train[:64], batch_size=32, epochs=1, verbose=0, callbacks=[cb.KLAnnealing("linear", steps=10)])
        assert int(model.optimizer.iterations.numpy()) == 0  # refused before any step


def test_nan_guard_stops_with_advice(capsys, fashion_train):
    import vae_zoo

    model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), likelihood="gaussian", seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1e6), steps_per_execution=1)
    model.fit(fashion_train[:640].astype("float32") * 1e3, batch_size=64, epochs=3, verbose=0, callbacks=[cb.NaNGuard()])
    out = capsys.readouterr().out
    assert getattr(model, "nan_stopped", False)
    assert "training stopped. try a lower --learning-rate, gradient clipping (--clipnorm 1.0)" in out


def test_a_run_killed_while_saving_its_backup_resumes_from_the_previous_save(tmp_path, monkeypatch):
    """Keras's BackupAndRestore rewrites latest.weights.h5 in place: a run killed in the middle of
    that write left a truncated file, and the restart failed with "bad object header version number"
    (seen in CI). Killed mid-save here (a partial file, then death), the restart resumes after the
    last complete save, with its weights."""
    x = np.random.default_rng(0).random((64, 8)).astype("float32")
    backup = str(tmp_path / "backup")

    def model():
        keras.utils.set_random_seed(0)
        m = vae_zoo.models.DenseVAE((8,), latent_dim=2, hidden_units=(8,), seed=0)
        m.compile(optimizer="adam", jit_compile=False)
        return m

    class Killed(Exception):
        pass

    first = model()
    first.fit(x, batch_size=16, epochs=2, verbose=0, callbacks=[cb.AtomicBackupAndRestore(backup, delete_checkpoint=False)])
    saved = [w.copy() for w in first.get_weights()]
    real_save = keras.Model.save_weights

    def dies_while_writing(self, filepath, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # the first bytes of an HDF5 file, then death
        raise Killed

    monkeypatch.setattr(keras.Model, "save_weights", dies_while_writing)
    with pytest.raises(Killed):
        model().fit(x, batch_size=16, epochs=4, verbose=0, callbacks=[cb.AtomicBackupAndRestore(backup)])
    monkeypatch.setattr(keras.Model, "save_weights", real_save)

    restarted = model()
    seen = []
    restarted.fit(
        x, batch_size=16, epochs=2, verbose=0,
        callbacks=[cb.AtomicBackupAndRestore(backup), keras.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append([w.copy() for w in restarted.get_weights()]))],
    )  # fmt: skip
    assert_same_weights(seen[0], saved, atol=0)  # restored from the save of epoch 2, not the partial one
    assert restarted._initial_epoch == 2
