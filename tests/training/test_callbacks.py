"""Callbacks: KL schedules and annealing, the NaN guard."""


import keras
import pytest

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
