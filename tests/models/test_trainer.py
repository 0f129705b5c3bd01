"""The Keras integration: mixed precision keeps the heads in float32; automatic XLA; the fused XLA loop."""

import keras
import numpy as np
import pytest
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


def test_automatic_xla_is_a_family_choice_announced_once_and_explicit_settings_win(caplog, capsys):
    """No shipped family chooses XLA by itself: under it DenseVAE trained worse than the plain step
    (benchmarks/README.md) and compiled slower than short runs gain. A family that sets
    `AUTO_JIT_COMPILE` gets XLA from `compile()`, announced once as a `vae_zoo` log warning."""
    from vae_zoo.models import ConvVAE, SequenceVAE
    from vae_zoo.models import trainer

    for family in (DenseVAE, ConvVAE, SequenceVAE):
        assert family.AUTO_JIT_COMPILE is False, family
    dense = DenseVAE((6,), latent_dim=2, hidden_units=(4,), seed=0)
    dense.compile()
    assert dense.jit_compile is False

    class XlaDense(DenseVAE):
        AUTO_JIT_COMPILE = True

    trainer._ANNOUNCED.clear()
    model = XlaDense((6,), latent_dim=2, hidden_units=(4,), seed=0)
    with caplog.at_level("WARNING", logger="vae_zoo"):
        model.compile()
        model.compile()
    announced = [
        r for r in caplog.records if "XlaDense compiles its training step with XLA" in r.getMessage()
    ]
    assert model.jit_compile is True and len(announced) == 1 and announced[0].name == "vae_zoo"
    assert "compiles its training step" not in capsys.readouterr().out  # a log record, not a print
    model.compile(jit_compile=False, steps_per_execution=3)
    assert model.jit_compile is False and model.steps_per_execution == 3
    dense.compile(jit_compile=True)
    assert dense.jit_compile is True


def test_the_fused_xla_loop_trains_like_the_plain_loop(fashion_train):
    """100 examples at batch 32: three full batches and a last one of 4 in one execution. The fused
    XLA loop (`jit_compile=True`) and one plain step per call must end with the same weights and metrics:
    a skipped, repeated or reordered batch, or other training noise, would not."""
    x = fashion_train[:100]

    def trained(**compile_args):
        keras.utils.set_random_seed(0)  # the same initial weights
        model = DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
        model.compile(optimizer=keras.optimizers.SGD(0.01), **compile_args)
        history = model.fit(x, batch_size=32, epochs=2, shuffle=False, verbose=0).history
        return model, history

    fused, fused_history = trained(jit_compile=True)
    plain, plain_history = trained(jit_compile=False, steps_per_execution=1)
    assert fused.jit_compile and fused.steps_per_execution > 1
    assert int(fused.optimizer.iterations.numpy()) == int(plain.optimizer.iterations.numpy()) == 8
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(fused_history["loss"], plain_history["loss"], rtol=1e-5)
    keras.utils.set_random_seed(0)
    initial = DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0).get_weights()
    assert max(float(np.abs(a - b).max()) for a, b in zip(fused.get_weights(), initial)) > 1e-3  # it trained


def test_xla_that_keras_cannot_apply_is_refused_not_dropped(tmp_path):
    """Keras compiles no model holding a layer without XLA support and turns jit_compile off by itself;
    a SequenceVAE with a vocabulary (a string lookup) asked for XLA says so. Saved and loaded, a model
    keeps Keras's choice."""
    from vae_zoo.models import SequenceVAE

    model = SequenceVAE(
        vocabulary=["a", "b", "c"], max_length=4, latent_dim=2, hidden_units=4, embedding_dim=4
    )
    with pytest.raises(ValueError, match="jit_compile=True cannot apply to this SequenceVAE"):
        model.compile(jit_compile=True)
    model.compile(jit_compile=False)
    assert model.jit_compile is False
    ids = SequenceVAE(max_length=4, latent_dim=2, hidden_units=4, embedding_dim=4, vocab_size=12)
    ids.compile(jit_compile=True)  # token ids without a vocabulary: XLA applies
    assert ids.jit_compile is True
    ids.save(tmp_path / "ids.keras")
    assert keras.models.load_model(tmp_path / "ids.keras").jit_compile is True
