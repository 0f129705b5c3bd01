"""Callbacks: KL schedules and annealing, the NaN guard, the history CSV, the atomic backup."""

import csv
import os
import shutil
import threading

import keras
import numpy as np
import pytest

import vae_zoo
from vae_zoo.training import backup as backup_module
from vae_zoo.training import callbacks as cb
from vae_zoo.training.backup import AtomicBackupAndRestore, common_epoch

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
        fashion_train[:640],
        batch_size=64,
        epochs=2,
        verbose=0,
        callbacks=[cb.KLAnnealing("linear", steps=40, max_beta=2.0)],
    ).history
    # beta is set before each batch from the step count: last batch of epoch 1 is step 9, of epoch 2 step 19
    assert history["beta"] == pytest.approx([2.0 * 9 / 40, 2.0 * 19 / 40])


def test_the_schedule_in_graph_agrees_with_the_python_one():
    for schedule in cb.SCHEDULES:
        steps = np.arange(0, 130)
        expected = [cb.kl_weight(int(s), schedule, 100, max_beta=2.0, cycles=4, ratio=0.5) for s in steps]
        got = cb.kl_weight_tensor(steps, schedule, 100, max_beta=2.0, cycles=4, ratio=0.5).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=schedule)


def test_kl_annealing_weighs_every_step_whatever_steps_per_execution(fashion_train):
    """SGD, 12 steps over a 12-step linear schedule: 12 executions of 1 step and 2 of 6 must end
    with the same weights (with beta set once per execution, the 6-step run trains 5 of every 6
    steps on a stale weight and ends elsewhere). After fit the model trains on beta again."""
    x = fashion_train[:384].astype("float32") / 255

    def trained(steps_per_execution, annealing=True):
        keras.utils.set_random_seed(0)
        model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), seed=0)
        model.compile(optimizer=keras.optimizers.SGD(0.05), steps_per_execution=steps_per_execution)
        callbacks = [cb.KLAnnealing("linear", steps=12, max_beta=1.0)] if annealing else []
        model.fit(x, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
        return model

    one, six = trained(1), trained(6)
    assert one.kl_schedule is None and six.kl_schedule is None  # taken back at the end of fit
    assert float(six.beta.numpy()) == pytest.approx(11 / 12)  # the weight of the last step
    for a, b in zip(one.get_weights(), six.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    fixed = trained(6, annealing=False)  # beta = 1 throughout: another result, so the schedule acted
    assert max(float(np.abs(a - b).max()) for a, b in zip(fixed.get_weights(), six.get_weights())) > 1e-4
    # A later fit without the callback weighs the KL term by beta, not by the schedule it was traced with.
    six.beta.assign(0.0)
    before = [w.copy() for w in six.get_weights()]
    six.fit(x[:32], batch_size=32, epochs=1, verbose=0)
    after_zero = [a - b for a, b in zip(six.get_weights(), before)]
    fresh = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), seed=0)
    fresh.compile(optimizer=keras.optimizers.SGD(0.05), steps_per_execution=1)
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.optimizer.iterations.assign(12)  # the same step, so the same training noise
    fresh.set_weights(before)
    fresh.beta.assign(0.0)
    fresh.fit(x[:32], batch_size=32, epochs=1, verbose=0)
    for a, b in zip(after_zero, [a - b for a, b in zip(fresh.get_weights(), before)]):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_kl_annealing_callback_refuses_models_without_a_kl_weight(fashion_train):
    import vae_zoo

    for model in (
        vae_zoo.models.DenseVAE(
            (28, 28, 1), latent_dim=2, hidden_units=(16,), objective="iwae", num_samples=3, seed=0
        ),
        vae_zoo.models.BetaVAE(
            (28, 28, 1), latent_dim=2, filters=(4, 4), hidden_units=8, capacity=10.0, seed=0
        ),
    ):
        model.compile(optimizer="sgd", steps_per_execution=1)
        with pytest.raises(
            ValueError, match="KL annealing sets model.beta, the KL weight of the ELBO, but this"
        ):
            model.fit(
                fashion_train[:64],
                batch_size=32,
                epochs=1,
                verbose=0,
                callbacks=[cb.KLAnnealing("linear", steps=10)],
            )
        assert int(model.optimizer.iterations.numpy()) == 0  # refused before any step


def test_kl_annealing_refuses_a_model_that_is_not_a_vae():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(
        ValueError, match="KLAnnealing anneals the KL weight of a vae-zoo model .* a Sequential"
    ):
        model.fit(
            np.zeros((4, 3)), np.zeros((4, 1)), verbose=0, callbacks=[cb.KLAnnealing("linear", steps=4)]
        )


def test_nan_guard_stops_with_advice(capsys, fashion_train):
    import vae_zoo

    model = vae_zoo.models.DenseVAE(
        (28, 28, 1), latent_dim=2, hidden_units=(16,), likelihood="gaussian", seed=0
    )
    model.compile(optimizer=keras.optimizers.SGD(1e6), steps_per_execution=1)
    model.fit(
        fashion_train[:640].astype("float32") * 1e3,
        batch_size=64,
        epochs=3,
        verbose=0,
        callbacks=[cb.NaNGuard()],
    )
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
    first.fit(
        x,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[AtomicBackupAndRestore(backup, delete_checkpoint=False)],
    )
    saved = [w.copy() for w in first.get_weights()]
    real_save = keras.Model.save_weights

    def dies_while_writing(self, filepath, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # the first bytes of an HDF5 file, then death
        raise Killed

    monkeypatch.setattr(keras.Model, "save_weights", dies_while_writing)
    with pytest.raises(Killed):
        model().fit(x, batch_size=16, epochs=4, verbose=0, callbacks=[AtomicBackupAndRestore(backup)])
    monkeypatch.setattr(keras.Model, "save_weights", real_save)

    restarted = model()
    seen = []
    restarted.fit(
        x,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[
            AtomicBackupAndRestore(backup),
            keras.callbacks.LambdaCallback(
                on_train_begin=lambda logs: seen.append([w.copy() for w in restarted.get_weights()])
            ),
        ],
    )
    assert_same_weights(seen[0], saved, atol=0)  # restored from the save of epoch 2, not the partial one
    assert restarted._initial_epoch == 2


def _small_model():
    keras.utils.set_random_seed(0)
    m = vae_zoo.models.DenseVAE((8,), latent_dim=2, hidden_units=(8,), seed=0)
    m.compile(optimizer="adam", jit_compile=False)
    return m


X = np.random.default_rng(0).random((64, 8)).astype("float32")  # 4 steps an epoch at batch 16


def test_workers_whose_backups_differ_by_an_epoch_both_resume_from_the_epoch_they_share(
    tmp_path, monkeypatch
):
    """Worker 0 saved its backup of epoch 3; worker 1 was killed while saving its own (a save cut short,
    `latest` still at epoch 2). Restarted, both restore epoch 2 (the latest both hold: each keeps its
    previous save too) and run the same steps; worker 0 drops its epoch-3 save. The collective is simulated
    by threads meeting at a barrier, each handing in the row its worker would all-reduce."""
    dirs = [str(tmp_path / f"worker_{i}" / "backup") for i in range(2)]
    first, weights = _small_model(), {}
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: weights.update({e + 1: first.get_weights()})
    )
    for epochs in (2, 3):
        if epochs == 3:
            shutil.copytree(dirs[0], dirs[1], symlinks=True)  # both workers saved epochs 1 and 2
        kept = AtomicBackupAndRestore(dirs[0], delete_checkpoint=False)
        first.fit(X, batch_size=16, epochs=epochs, verbose=0, callbacks=[kept, record])
    assert sorted(AtomicBackupAndRestore(dirs[0]).complete_saves()) == [2, 3]  # the previous save kept
    cut = os.path.join(dirs[1], "save-000003-000000000")
    os.makedirs(cut)
    with open(os.path.join(cut, "latest.weights.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n")  # worker 1's save of epoch 3, cut short by the kill
    assert sorted(AtomicBackupAndRestore(dirs[1]).complete_saves()) == [1, 2]

    handed, barrier = {}, threading.Barrier(2)

    def all_reduce(strategy, row):  # what rows_of_all_replicas returns on each of two single-replica workers
        handed[threading.current_thread().name] = list(row)
        barrier.wait(timeout=60)
        return np.array([handed["worker_0"], handed["worker_1"]])

    monkeypatch.setattr(backup_module, "rows_of_all_replicas", all_reduce)
    models, backups = [_small_model() for _ in dirs], [AtomicBackupAndRestore(d) for d in dirs]
    for model, backup in zip(models, backups):
        backup.set_model(model)
    threads = [threading.Thread(target=b.on_train_begin, name=f"worker_{i}") for i, b in enumerate(backups)]
    [t.start() for t in threads]
    [t.join(timeout=120) for t in threads]
    assert handed == {"worker_0": [3, 2], "worker_1": [2, 1]}
    for model, backup in zip(models, backups):
        assert (backup.restored_epoch, model._initial_epoch) == (2, 2)
        assert_same_weights(model.get_weights(), weights[2], atol=0)  # epoch 2's weights, not epoch 3's
        assert int(model.optimizer.iterations.numpy()) == 8
    assert sorted(backups[0].complete_saves()) == [2]  # worker 0's epoch-3 save dropped, `latest` at epoch 2
    # Sequentially now (no collective left): each resumes after epoch 2 and runs the same 4 steps of epoch 3.
    monkeypatch.setattr(backup_module, "rows_of_all_replicas", lambda strategy, row: np.array([row]))
    for model, directory in zip(models, dirs):
        model.fit(X, batch_size=16, epochs=3, verbose=0, callbacks=[AtomicBackupAndRestore(directory)])
        assert int(model.optimizer.iterations.numpy()) == 12
    assert_same_weights(models[0].get_weights(), models[1].get_weights(), atol=0)


def test_common_epoch():
    assert common_epoch([{3, 2}, {2, 1}]) == 2
    assert common_epoch([{3, 2}, {3, 2}]) == 3
    assert common_epoch([{5, 4}, {2, 1}]) == 0  # nothing shared: every worker starts over
    assert common_epoch([{2, 0}]) == 2


class _Killed(Exception):
    pass


@pytest.mark.parametrize("where", ["before_backup", "after_backup"])
def test_a_run_killed_around_its_backup_keeps_every_history_row_once(tmp_path, where):
    """A kill between an epoch's history row and its backup (the epoch runs again: its old row must go), or
    after the backup (the ModelCheckpoint saves: the row must be there already). Either way the restarted
    run's history.csv holds epochs 0, 1, 2 once each, the rerun epoch's row from the rerun."""
    history, backup = str(tmp_path / "history.csv"), str(tmp_path / "backup")

    def killer(epoch):
        def on_epoch_end(e, logs):
            if e == epoch:
                raise _Killed

        return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)

    def callbacks(kill_at=None):
        kill = [killer(kill_at)] if kill_at is not None else []
        middle, last = (kill, []) if where == "before_backup" else ([], kill)
        return [cb.HistoryCSV(history), *middle, AtomicBackupAndRestore(backup), *last]

    with pytest.raises(_Killed):
        _small_model().fit(X, batch_size=16, epochs=3, verbose=0, callbacks=callbacks(kill_at=1))
    with open(history) as f:
        killed = list(csv.DictReader(f))
    assert [row["epoch"] for row in killed] == ["0", "1"]  # written before the backup
    restarted = _small_model()
    logs = restarted.fit(X, batch_size=16, epochs=3, verbose=0, callbacks=callbacks()).history
    with open(history) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert rows[0] == killed[0]
    resumed = 1 if where == "before_backup" else 2
    assert [float(row["loss"]) for row in rows[resumed:]] == pytest.approx(logs["loss"], rel=1e-6)
