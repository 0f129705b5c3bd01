"""The Keras integration: mixed precision keeps the heads in float32; automatic XLA; the fused XLA loop."""

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.models import DenseVAE

SMALL = dict(hidden_units=(64,), seed=0)


def test_mixed_precision_keeps_distribution_heads_in_float32(fashion_train):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = DenseVAE((28, 28, 1), latent_dim=4, **SMALL)
        model.compile(optimizer="adam")
        assert model.encoder_network.layers[1].compute_dtype == "float16"
        history = model.fit(fashion_train[:400], batch_size=100, epochs=1, verbose=0).history
        assert np.isfinite(history["loss"][0])
        params = model._posterior_params(tf.constant(fashion_train[:2].astype("float32") / 255))
        assert all(v.dtype == tf.float32 for v in params.values())
        assert model.decode(tf.zeros((1, 4))).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_automatic_xla_is_announced_once_and_explicit_settings_win(caplog, capsys):
    from vae_zoo.models import ConvVAE
    from vae_zoo.models import trainer

    trainer._ANNOUNCED.clear()
    dense = DenseVAE((6,), latent_dim=2, hidden_units=(4,), seed=0)
    with caplog.at_level("WARNING", logger="vae_zoo"):
        dense.compile()
        dense.compile()
    announced = [
        r for r in caplog.records if "DenseVAE compiles its training step with XLA" in r.getMessage()
    ]
    assert dense.jit_compile is True and len(announced) == 1 and announced[0].name == "vae_zoo"
    assert "compiles its training step" not in capsys.readouterr().out  # a log record, not a print
    dense.compile(jit_compile=False, steps_per_execution=3)
    assert dense.jit_compile is False and dense.steps_per_execution == 3
    conv = ConvVAE((8, 8, 1), latent_dim=2, filters=(4,), hidden_units=0, seed=0)
    conv.compile()
    assert conv.jit_compile is False  # not measured faster for convolutions: the family does not choose it


def test_the_fused_xla_loop_trains_like_the_plain_loop(fashion_train):
    """100 examples at batch 32: three full batches and a last one of 4 in one execution. The fused
    XLA loop (the default) and one plain step per call must end with the same weights and metrics:
    a skipped, repeated or reordered batch, or other training noise, would not."""
    x = fashion_train[:100]

    def trained(**compile_args):
        keras.utils.set_random_seed(0)  # the same initial weights
        model = DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
        model.compile(optimizer=keras.optimizers.SGD(0.01), **compile_args)
        history = model.fit(x, batch_size=32, epochs=2, shuffle=False, verbose=0).history
        return model, history

    fused, fused_history = trained()
    plain, plain_history = trained(jit_compile=False, steps_per_execution=1)
    assert fused.jit_compile and fused.steps_per_execution > 1
    assert int(fused.optimizer.iterations.numpy()) == int(plain.optimizer.iterations.numpy()) == 8
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(fused_history["loss"], plain_history["loss"], rtol=1e-5)
    keras.utils.set_random_seed(0)
    initial = DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0).get_weights()
    assert max(float(np.abs(a - b).max()) for a, b in zip(fused.get_weights(), initial)) > 1e-3  # it trained
