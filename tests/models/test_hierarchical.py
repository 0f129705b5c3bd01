"""HierarchicalVAE: the shared family checks, the top-down densities, the bound's terms, refusals.

The exported signatures are covered with the other export kinds (tests/export: TF1 session without
vae_zoo, rows together and apart, Python methods against the signatures).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from family_testing import run_family_test

from vae_zoo.distributions import TopDownGaussian
from vae_zoo.models import HierarchicalVAE

TINY = dict(input_shape=(28, 28, 1), latent_dims=(3, 2, 2), channels=4, hidden_units=16, seed=0)


def _images(fashion_train, n=6):
    return (fashion_train[:n] > 0.5).astype("float32")


@pytest.fixture(scope="module")
def trained(fashion_train):
    """A tiny three-layer model after 30 Adam steps (so q differs from p below the top)."""
    keras.utils.set_random_seed(0)
    model = HierarchicalVAE(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(_images(fashion_train, 256), batch_size=64, epochs=8, verbose=0)
    return model


def test_hierarchical_family(tmp_path, fashion_train):
    """The shared checks, with the full-resolution decoder stack on (its layers in the round trip)."""
    kwargs = {**TINY, "prior": "mixture", "full_resolution_layers": 2}
    model = run_family_test(HierarchicalVAE, kwargs, _images(fashion_train, 8), tmp_path)
    names = {layer.name for layer in model.output_network.layers}
    assert {"full_resolution_in", "full_resolution_0", "full_resolution_1"} <= names
    assert "full_resolution_in" not in {layer.name for layer in HierarchicalVAE(**TINY).output_network.layers}


def test_posterior_density_is_the_change_of_variables_of_its_draws(trained, fashion_train):
    """z = top-down draw from eps, each layer loc + scale * eps given the layers above, so
    log q(z|x) = sum log N(eps; 0, I) - sum log scale along the path. `q.log_prob` walks the given z
    again: a draw and a density that disagree (the residual form, which noise feeds which layer)
    give another number.

    The posterior heads' outputs get fixed random weights first, so q's shift from the prior is far
    from zero whatever training did (a draw that ignored the shift also keeps it at zero in training)."""
    model = HierarchicalVAE.from_config(trained.get_config())
    model.set_weights(trained.get_weights())
    for i, head in enumerate(model.posterior_heads):
        kernel = head.layers[-1].kernel
        kernel.assign(tf.random.stateless_normal(kernel.shape, [7, i]) * 0.3)
    x = model.prepare_inputs(_images(fashion_train))
    params = model.posterior_parameters(x)
    eps = tf.random.stateless_normal([4, 6, model.latent_dim], [1, 2])
    _, walk = model._draw(params, eps)
    shifts = [float(tf.reduce_max(tf.abs(q[0] - p[0]))) for q, p in zip(walk["conditionals"], walk["priors"])]
    assert min(shifts) > 0.1, shifts
    z = model.reparameterize(params, eps)
    q = model.posterior_from_parameters(params)
    assert isinstance(q, TopDownGaussian) and q.batch_shape == [6] and q.event_shape == [7]
    # the spreads along each draw's own path (the conditionals of the walk at z)
    _, conditionals = q._walk(z[..., :3], z[..., 3:], False)
    log_scales = tf.math.log(params["top_scale"])[None]
    scales = [tf.broadcast_to(log_scales, [4, 6, 3])] + [tf.math.log(s) for _, s in conditionals]
    expected = tf.reduce_sum(-0.5 * eps**2 - 0.5 * np.log(2 * np.pi), -1) - tf.reduce_sum(
        tf.concat(scales, -1), -1
    )
    np.testing.assert_allclose(q.log_prob(z).numpy(), expected.numpy(), rtol=1e-5, atol=1e-3)
    # and the lower layers do depend on the upper ones (a posterior that ignored them would pass above)
    other = tf.concat([z[..., :3] + 1.0, z[..., 3:]], -1)
    assert np.abs(q.layer_log_probs(other)[1].numpy() - q.layer_log_probs(z)[1].numpy()).max() > 1e-2


def test_prior_density_and_draws_agree(trained):
    """The prior's draws, keyed per row, have the density of their own noise (normal top)."""
    z = trained.sample_latents(5, seed=3)
    p = trained.prior_distribution()
    assert p.batch_shape == [] and p.event_shape == [7]
    log_p = p.log_prob(z).numpy()
    _, conditionals = p._walk(z[:, :3], z[:, 3:], False)
    eps = [z[:, :3]] + [(v - m) / s for (m, s), v in zip(conditionals, tf.split(z[:, 3:], [2, 2], axis=-1))]
    log_scales = tf.add_n([tf.reduce_sum(tf.math.log(s), -1) for _, s in conditionals])
    expected = tf.reduce_sum(-0.5 * tf.concat(eps, -1) ** 2 - 0.5 * np.log(2 * np.pi), -1) - log_scales
    np.testing.assert_allclose(log_p, expected.numpy(), rtol=1e-5, atol=1e-3)
    # temperature 0: every layer at its conditional mean, the prior's mean path
    np.testing.assert_allclose(
        trained.sample_latents(2, seed=3, temperature=0.0).numpy(),
        np.stack([p.mean().numpy()] * 2),
        atol=1e-5,
    )


def test_analytic_kl_matches_the_monte_carlo_kl(trained, fashion_train):
    """The per-layer analytic KL along the sampled path and log q - log p estimate the same KL: with
    4,000 draws they agree within their noise; a KL with a wrong sign, a missing layer or the prior's
    conditionals taken at the wrong state is off by far more."""
    x = trained.prepare_inputs(_images(fashion_train))
    seed = tf.constant([5, 6], tf.int32)
    terms = trained.compute_terms(x, seed, num_samples=4000)
    mc = (terms["log_qz"] - terms["log_pz"]).numpy()
    noise = mc.std(axis=0) / np.sqrt(mc.shape[0])
    assert np.all(np.abs(terms["kl"].numpy() - mc.mean(axis=0)) < 4 * noise + 1e-3)
    assert terms["kl"].numpy().min() > 0.05  # the layers carry information: the comparison means something
    np.testing.assert_allclose(terms["kl_per_dim"].numpy().sum(-1), terms["kl"].numpy(), rtol=1e-5)
    # kl="mc" reports the Monte Carlo KL itself
    mc_model = HierarchicalVAE.from_config({**trained.get_config(), "kl": "mc"})
    mc_model.set_weights(trained.get_weights())
    np.testing.assert_allclose(
        mc_model.compute_terms(x, seed, num_samples=4000)["kl"].numpy(), mc.mean(axis=0), rtol=1e-4
    )


def test_free_bits_floor_each_lower_dimension_and_a_mixture_top_as_one_group(fashion_train):
    """Under a top prior that does not factorize, free bits floor the top layer's KL as one group of
    latent_dims[0] dimensions and each lower dimension on its own (Kingma et al. 2016's groups): the
    loss's KL is max(top, 3 * fb) + sum_j max(KL_j, fb) over batch means. The old floor on the whole
    KL total (fb * latent_dim) lets the collapsed lower dimensions hide behind the top layer's KL."""
    free_bits = 0.25
    model = HierarchicalVAE(**{**TINY, "prior": "mixture", "free_bits": free_bits})
    rng = np.random.default_rng(0)
    for head in model.posterior_heads:  # q away from p in each lower layer's first dimension only
        kernel, bias = head.layers[-1].get_weights()
        bias[0] = 1.5  # the shift of the layer's first mean: a KL of about 1.1 nats
        head.layers[-1].set_weights([rng.normal(0, 0.1, kernel.shape).astype("float32"), bias])
    x = model.prepare_inputs(_images(fashion_train, 16))
    terms = model.compute_terms(x, tf.constant([3, 4], tf.int32), num_samples=2)
    kl, per_dim = terms["kl"].numpy(), terms["kl_per_dim"].numpy()
    assert per_dim.shape == (16, 7)
    np.testing.assert_allclose(per_dim.sum(-1), kl, rtol=1e-5)
    top, lower = per_dim[:, :3].sum(-1), per_dim[:, 3:]
    np.testing.assert_allclose(per_dim[:, :3], np.repeat(top[:, None] / 3, 3, axis=1), rtol=1e-6)
    assert top.mean() > 3 * free_bits  # the top group counts its own KL ...
    active = lower.mean(0) > free_bits
    assert list(active) == [True, False, True, False], lower.mean(0)  # ... and the lower ones on both sides
    expected = top + np.where(active, lower, free_bits).sum(-1)
    penalty = model.kl_penalty(terms["kl"], terms["kl_per_dim"], weight=1.0).numpy()
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)
    assert np.all(np.abs(expected - np.maximum(kl, free_bits * 7)) > 1e-3)  # the total's floor differs


def test_log_likelihood_bounds_the_elbo_on_every_image(trained, fashion_train):
    x = _images(fashion_train)
    elbo = trained.elbo(x, num_samples=500, seed=1).numpy()
    ll = trained.log_likelihood(x, num_samples=500, seed=2, max_elements=2**24).numpy()
    assert np.all(ll >= elbo - 0.05), (ll, elbo)
    # The same draws (one chunk keyed by fold_in(seed, 0)) scored by compute_terms' own per-layer
    # densities, another code path than the TopDownGaussian densities of log_likelihood: a density
    # term missing or taken at the wrong layer on either side gives another number.
    seed = tf.random.experimental.stateless_fold_in(tf.bitcast(tf.constant(2, tf.int64), tf.int32), 0)
    terms = trained.compute_terms(trained.prepare_inputs(x), seed, num_samples=500)
    log_w = (terms["log_px_z"] + terms["log_pz"] - terms["log_qz"]).numpy().astype("float64")
    top = log_w.max(axis=0)
    np.testing.assert_allclose(ll, top + np.log(np.exp(log_w - top).mean(axis=0)), atol=2e-3)


def test_mean_path_is_what_reconstruct_decodes(trained, fashion_train):
    x = _images(fashion_train)
    outputs = trained.encode_outputs(x)
    np.testing.assert_array_equal(outputs["mean"].numpy(), trained.encode(x).mean().numpy())
    np.testing.assert_allclose(
        trained.reconstruct(x).numpy(), trained.decode(outputs["mean"]).mean().numpy(), atol=1e-6
    )
    assert outputs["stddev"].shape == (6, 7) and float(tf.reduce_min(outputs["stddev"])) > 0


def test_evaluation_reports_where_the_kl_goes(trained, fashion_train):
    """`kl_per_layer` adds up to the KL, top first; a fresh model's layers below the top equal their
    prior (zero-initialized posterior heads), so all of its KL is the top layer's."""
    from vae_zoo import evaluation

    x = _images(fashion_train, 32)
    keras.utils.set_random_seed(0)
    fresh = HierarchicalVAE(**TINY)
    report = evaluation.evaluate_model(fresh, x, num_samples=2, mi_examples=8, progress=False)
    assert report["kl_per_layer"][0] == pytest.approx(report["kl"], rel=1e-5) and report["kl"] > 0.01
    assert report["kl_per_layer"][1:] == pytest.approx([0.0, 0.0], abs=1e-5)
    assert report["kl_units_per_layer"][1:] == [0, 0]
    assert 1 <= report["kl_units_per_layer"][0] <= 3  # a normal prior at the top: counted per dimension
    report = evaluation.evaluate_model(trained, x, num_samples=2, mi_examples=8, progress=False)
    assert sum(report["kl_per_layer"]) == pytest.approx(report["kl"], rel=1e-4)
    assert min(report["kl_per_layer"][1:]) > 1e-3  # trained: q differs from p below the top
    vamp = HierarchicalVAE(**{**TINY, "prior": {"name": "vamp", "num_components": 3}})
    report = evaluation.evaluate_model(vamp, x, num_samples=2, mi_examples=8, progress=False)
    assert report["kl_units_per_layer"][0] is None  # a VampPrior's KL is not per dimension
    # one stochastic layer: nothing by layer
    from vae_zoo.models import DenseVAE

    dense = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    assert "kl_per_layer" not in evaluation.evaluate_model(dense, x, num_samples=2, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(latent_dims=(4,)), "latent_dims must list at least two positive layer sizes"),
        (dict(latent_dims=(4, 0)), "latent_dims must list at least two positive layer sizes"),
        (dict(latent_dim=5, latent_dims=(2, 2)), r"latent_dim \(5\) must equal sum\(latent_dims\) = 4"),
        (dict(latent_dim=5), "must be a multiple of 2, got latent_dim=5"),
        (dict(latent_dim=6, stochastic_layers=4), "must be a multiple of 4, got latent_dim=6"),
        (dict(latent_dims=(2, 2), stochastic_layers=3), "stochastic_layers=3 but latent_dims lists 2"),
        (dict(latent_dims=(2, 2), posterior="full"), "top-layer posterior must be 'diagonal'"),
        (dict(latent_dims=(2, 2), stl=True), "stl=True is not available"),
        (dict(latent_dims=(2, 2), channels=0), "channels must be an integer >= 1, got 0"),
        (dict(latent_dims=(2, 2), hidden_units=8.5), "hidden_units must be an integer >= 1, got 8.5"),
        (dict(latent_dims=(2, 2), residual_blocks="1"), "residual_blocks must be an integer >= 0, got '1'"),
        (dict(latent_dims=(2, 2), channels=float("inf")), "channels must be an integer >= 1, got inf"),
        (dict(latent_dims=(2, 2), channels=2.0), "channels must be an integer >= 1, got 2.0"),
        (dict(stochastic_layers=2.0, latent_dim=4), "stochastic_layers must be an integer >= 2, got 2.0"),
        (dict(latent_dim=4.5), "latent_dim must be a positive integer, got 4.5"),
        (dict(latent_dims=(2.5, 2)), "latent_dims must list at least two positive layer sizes"),
        (
            dict(latent_dims=(2, 2), full_resolution_layers=-1),
            "full_resolution_layers must be an integer >= 0",
        ),
        (dict(latent_dims=(2, 2), prior={"name": "mixture", "latent_dim": 4}), "prior latent_dim=4"),
    ],
)
def test_bad_settings_are_refused_before_any_step(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalVAE(
            (28, 28, 1),
            hidden_units=kwargs.pop("hidden_units", 8),
            channels=kwargs.pop("channels", 2),
            **kwargs,
        )


def test_input_shape_must_halve_twice():
    with pytest.raises(ValueError, match=r"divisible by 4 .* got \(30, 30, 1\)"):
        HierarchicalVAE((30, 30, 1), latent_dims=(2, 2))


def test_tflite_encode_decode_reconstruct_match_eager(tmp_path, trained, fashion_train):
    from ai_edge_litert.interpreter import Interpreter

    import vae_zoo

    path = vae_zoo.export_tflite(trained, str(tmp_path / "hierarchical.tflite"))
    interpreter = Interpreter(path)
    x = _images(fashion_train, 5)
    for rows in (1, 5):
        got = interpreter.get_signature_runner("encode")(x=x[:rows])
        want = trained.encode_outputs(x[:rows])
        for key in ("mean", "stddev"):
            np.testing.assert_allclose(got[key], want[key].numpy(), atol=1e-5)
        got = interpreter.get_signature_runner("decode")(z=want["mean"].numpy())
        np.testing.assert_allclose(got["mean"], trained.decode(want["mean"]).mean().numpy(), atol=1e-5)
        got = interpreter.get_signature_runner("reconstruct")(x=x[:rows])["reconstruction"]
        np.testing.assert_allclose(got, trained.reconstruct(x[:rows]).numpy(), atol=1e-5)


def test_mixed_precision_keeps_the_distributions_in_float32(fashion_train):
    """Under mixed precision the networks compute in bfloat16 and the top-down states, heads and
    densities stay float32 (a bfloat16 state met a float32 z in a concat before)."""
    x = _images(fashion_train, 8)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = HierarchicalVAE(**{**TINY, "latent_dims": (3, 2)}, prior="vamp")
        assert (
            model.top_down[0].compute_dtype == "bfloat16" and model.prior_heads[0].compute_dtype == "float32"
        )
        model.compile(optimizer="adam")
        loss = model.fit(x, batch_size=4, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
        ll = model.log_likelihood(x, num_samples=8, seed=0)
        assert ll.dtype == tf.float32 and np.all(np.isfinite(ll.numpy()))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_evaluate_model_reports_the_hierarchy(trained, fashion_train):
    """evaluate_model's I(x; z) scores every draw under every example's q (z `[N, 1, L]` against q of
    `[N]`, which broadcast wrongly before), and its per-dimension KL covers all layers."""
    from vae_zoo import evaluation

    x = _images(fashion_train, 20)
    report = evaluation.evaluate_model(trained, x, num_samples=20, batch_size=10, mi_examples=20)
    assert 0 < report["mutual_information"] <= np.log(20) + 1e-6
    assert len(report["kl_per_dimension"]) == 7
    np.testing.assert_allclose(sum(report["kl_per_dimension"]), report["kl"], rtol=1e-4)
