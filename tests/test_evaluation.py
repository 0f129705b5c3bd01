"""Evaluation: importance-weighted log p(x) against a closed form, bound ordering, diagnostics."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo import evaluation
from vae_zoo.models import DenseVAE

tfd = tfp.distributions


def _linear_gaussian(epochs, learning_rate):
    """A DenseVAE(hidden_units=()) with a Gaussian likelihood, trained on pPCA data: its marginal
    p(x) = N(b, W^T W + sigma^2 I) is known exactly. Returns (model, x, exact log p(x))."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    true_w = rng.normal(size=(2, 6))
    data = (rng.normal(size=(3000, 2)) @ true_w + 0.5 * rng.normal(size=(3000, 6)) + 1.0).astype("float32")
    model = DenseVAE((6,), latent_dim=2, hidden_units=(), likelihood="gaussian", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), steps_per_execution=1)
    model.fit(data, batch_size=100, epochs=epochs, verbose=0)
    dense = model.decoder_network.get_layer("likelihood_params")
    w, b = dense.kernel.numpy(), dense.bias.numpy()
    sigma = float(model.likelihood._scale())
    covariance = w.T @ w + sigma**2 * np.eye(6)
    marginal = tfd.MultivariateNormalTriL(b, np.linalg.cholesky(covariance).astype("float32"))
    x = data[:300]
    return model, x, marginal.log_prob(x).numpy()


@pytest.fixture(scope="module")
def linear_gaussian():
    """Trained to convergence: q(z|x) is close to the exact posterior."""
    return _linear_gaussian(epochs=15, learning_rate=1e-2)


def test_estimate_converges_to_the_exact_log_likelihood(linear_gaussian):
    model, x, exact = linear_gaussian
    estimate = evaluation.log_likelihood(model, x, num_samples=5000, seed=1, progress=False)
    elbo = model.elbo(x, num_samples=1000, seed=2).numpy()
    assert abs(estimate.mean() - exact.mean()) < 0.01, (estimate.mean(), exact.mean())  # nats per example
    np.testing.assert_allclose(estimate, exact, atol=0.05)  # per example too
    assert elbo.mean() < exact.mean()


def test_bounds_tighten_as_k_grows():
    """Early in training the diagonal posterior is a poor proposal: ELBO <= IWAE-k <= log p(x), growing with
    k."""
    model, x, exact = _linear_gaussian(epochs=2, learning_rate=3e-3)
    means = {
        k: evaluation.log_likelihood(model, x, num_samples=k, seed=1, progress=False).mean()
        for k in (10, 100, 5000)
    }
    elbo = model.elbo(x, num_samples=1000, seed=2).numpy().mean()
    # measured: ELBO -11.34 < IWAE-10 -10.83 < IWAE-100 -10.68 < IWAE-5000 -10.59 <= log p(x) -10.49
    assert elbo < means[10] < means[100] < means[5000] <= exact.mean() + 0.01, (elbo, means, exact.mean())
    assert exact.mean() - means[5000] < 0.2 * (exact.mean() - elbo)  # 5000 samples close most of the gap


def test_memory_is_bounded_by_chunks(linear_gaussian):
    model, x, exact = linear_gaussian
    # one sample per chunk: 300 chunks in the while loop give the same estimate as one big chunk
    tiny = model.log_likelihood(x[:20], num_samples=300, seed=5, max_elements=6).numpy()
    np.testing.assert_allclose(tiny, exact[:20], atol=0.1)
    # K = 7 samples in chunks of 3 (3 + 3 + 1): the last chunk draws 3 and must drop 2 of them
    k, chunk, batch = 7, 3, 4
    x4 = x[:batch]
    estimate = model.log_likelihood(
        x4, num_samples=k, seed=3, max_elements=chunk * batch * 6 * model.likelihood.num_params
    )
    # the same stream by hand: chunk i draws stateless_normal([chunk, batch, 2], fold_in(seed, i)), seed 3 ->
    # [3, 0]
    seed = tf.constant([3, 0], tf.int32)
    fold_in = tf.random.experimental.stateless_fold_in
    eps = tf.concat(
        [tf.random.stateless_normal([chunk, batch, 2], fold_in(seed, i)) for i in range(3)], axis=0
    )
    q = model.encode(x4)
    z = q.mean() + q.stddev() * eps  # [9, batch, 2]
    log_w = (model.decode(z).log_prob(x4) + model.prior_distribution().log_prob(z) - q.log_prob(z)).numpy()
    first_k = tf.reduce_logsumexp(log_w[:k], axis=0).numpy() - np.log(k)
    np.testing.assert_allclose(estimate, first_k, atol=1e-4)
    # what an unmasked last chunk would give (all 9 draws, divided by 9 or by K) is measurably different
    all_draws = tf.reduce_logsumexp(log_w, axis=0).numpy()
    assert np.abs(all_draws - np.log(9) - first_k).max() > 1e-2
    assert np.abs(all_draws - np.log(k) - first_k).min() > 1e-1


def test_bound_ordering_on_a_trained_image_model(fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=8, hidden_units=(128,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    x = (fashion_train > 127).astype("float32")
    model.fit(x, batch_size=100, epochs=4, verbose=0)
    test = x[-300:]
    elbo = model.elbo(test, num_samples=50, seed=1).numpy().mean()
    iw = [
        evaluation.log_likelihood(model, test, num_samples=k, seed=1, progress=False).mean()
        for k in (5, 50, 500)
    ]
    assert elbo < iw[0] < iw[1] < iw[2]
    assert iw[2] - elbo > 1.0  # nats: the bound is loose on real images


def test_report(fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=6, hidden_units=(64,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    x = (fashion_train > 127).astype("float32")
    model.fit(x, batch_size=100, epochs=3, verbose=0)
    report = evaluation.evaluate_model(model, x[:500], num_samples=50, mi_examples=500, progress=False)
    json.dumps(report)  # JSON-serializable
    assert report["negative_elbo"] == pytest.approx(report["kl"] + report["reconstruction"], rel=1e-5)
    assert report["negative_log_likelihood"] < report["negative_elbo"]
    assert len(report["kl_per_dimension"]) == 6
    assert sum(report["kl_per_dimension"]) == pytest.approx(report["kl"], rel=1e-4)
    assert (
        report["active_units"] == sum(v > 0.01 for v in report["posterior_mean_variance"])
        and report["active_units"] >= 2
    )
    # ELBO surgery: average KL = I(x;z) + KL(q(z)||p(z)), with 0 <= I <= log N
    assert 0 < report["mutual_information"] <= np.log(500) + 1e-6
    assert report["marginal_kl"] > 0
    assert report["kl_mi_examples"] == pytest.approx(report["mutual_information"] + report["marginal_kl"])


def test_mutual_information_of_a_collapsed_posterior_is_zero():
    model = DenseVAE((10,), latent_dim=3, hidden_units=(), likelihood="gaussian", seed=0)
    kernel = model.posterior.projection.kernel
    kernel.assign(np.zeros(kernel.shape, "float32"))  # q(z|x) no longer depends on x
    x = np.random.default_rng(0).normal(size=(400, 10)).astype("float32")
    assert abs(evaluation.mutual_information(model, x)) < 1e-5


def test_mutual_information_bounds_its_blocks_of_pairs_and_not_its_value():
    # A hierarchy's log q(z_i | x_m) runs a network per pair: 256 rows of 10,000 test images needed over
    # 20 GiB, so the pairs go in blocks of at most max_pairs; the blocks must cover every z_i once.
    model = DenseVAE((10,), latent_dim=3, hidden_units=(8,), likelihood="gaussian", seed=0)
    x = np.random.default_rng(0).normal(size=(40, 10)).astype("float32")
    whole = evaluation.mutual_information(model, x)  # one block of all 40 rows
    rows, posterior = [], model.posterior_from_parameters

    class Recording:
        def __init__(self, q):
            self.q = q

        def log_prob(self, z):
            rows.append(int(z.shape[0]))
            return self.q.log_prob(z)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "posterior_from_parameters", lambda params: Recording(posterior(params)))
        blocked = evaluation.mutual_information(model, x, max_pairs=120)  # 3 rows of 40 pairs a block
    assert rows == [40] + [3] * 13 + [1]  # first log q(z_i | x_i) of all 40 at once, then the blocks
    assert blocked == pytest.approx(whole, abs=1e-5)
    assert 0.1 < whole <= np.log(40)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_num_samples(bad):
    model = DenseVAE((10,), latent_dim=2, hidden_units=(), likelihood="gaussian", seed=0)
    with pytest.raises(ValueError, match="num_samples must be"):
        evaluation.log_likelihood(model, np.zeros((2, 10), "float32"), num_samples=bad)
    with pytest.raises(ValueError, match="num_samples must be"):
        evaluation.evaluate_model(model, np.zeros((2, 10), "float32"), num_samples=bad)


def test_wrong_shape_dataset():
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    data = tf.data.Dataset.from_tensor_slices(np.zeros((8, 32, 32, 3), "float32")).batch(4)
    with pytest.raises(
        ValueError, match=r"expects inputs of shape \(batch, 28, 28, 1\), got \(8, 32, 32, 3\)"
    ):
        evaluation.evaluate_model(model, data, num_samples=2)


def test_evaluate_command(tmp_path, fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(16,), seed=0)
    model.save(tmp_path / "model.keras")
    (tmp_path / "metrics.json").write_text(json.dumps({"validation": {"negative_elbo": 1.0}}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vae_zoo.cli",
            "evaluate",
            str(tmp_path),
            "--num-samples",
            "20",
            "--max-examples",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert report["num_examples"] == 200 and report["num_samples"] == 20 and report["split"] == "validation"
    assert report["negative_log_likelihood"] <= report["negative_elbo"] + 1.0
    assert "test_evaluations" not in json.loads((tmp_path / "metrics.json").read_text())
    # the test split: allowed, and counted in the run's metrics.json
    command = [
        sys.executable,
        "-m",
        "vae_zoo.cli",
        "evaluate",
        str(tmp_path),
        "--split",
        "test",
        "--num-samples",
        "5",
        "--resume-dir",
        str(tmp_path / "passes"),
    ]
    result = subprocess.run([*command, "--max-examples", "30"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    record, saved = sorted((tmp_path / "passes").iterdir())  # the pass's 30 estimates, kept for a resumed run
    assert saved.suffix == ".npy" and json.loads(record.read_text())["examples"] == 30  # and what it cost
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert np.load(saved).shape == (30,)
    np.testing.assert_allclose(-np.load(saved).mean(), report["negative_log_likelihood"], rtol=1e-5)
    assert "test evaluation 1 of this run, recorded in" in result.stderr
    assert (report["split"], report["num_examples"], report["test_evaluations"]) == ("test", 30, 1)
    recorded = json.loads((tmp_path / "metrics.json").read_text())["test_evaluations"]
    assert len(recorded) == 1 and recorded[0]["by"] == "vae-zoo evaluate" and recorded[0]["examples"] == 30
    assert recorded[0]["command"].endswith("--split test --seed 0 --num-samples 5 --max-examples 30")
    bad = subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", "evaluate", str(tmp_path), "--num-samples", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--num-samples must be >= 1, got 0" in bad.stderr


def test_standard_error_of_the_nll_is_over_examples(monkeypatch):
    """The report's standard error is std(log p(x_i), ddof=1) / sqrt(n) of the per-example estimates."""
    model = DenseVAE((10,), latent_dim=2, hidden_units=(), likelihood="gaussian", seed=0)
    x = np.random.default_rng(0).normal(size=(4, 10)).astype("float32")
    known = np.array([-10.0, -12.0, -11.0, -15.0])  # mean -12, deviations 2, 0, 1, -3: sum of squares 14
    monkeypatch.setattr(evaluation, "log_likelihood", lambda *args, **kwargs: known)
    report = evaluation.evaluate_model(model, x, num_samples=2, mi_examples=4, progress=False)
    assert report["negative_log_likelihood"] == pytest.approx(12.0)
    assert report["negative_log_likelihood_standard_error"] == pytest.approx(np.sqrt(14 / 3) / 2)  # 1.0801
    assert evaluation.standard_error([3.0]) is None and evaluation.standard_error(
        [1.0, 3.0]
    ) == pytest.approx(1.0)


def test_standard_error_of_the_real_estimate():
    model = DenseVAE((10,), latent_dim=2, hidden_units=(), likelihood="gaussian", seed=0)
    x = np.random.default_rng(1).normal(size=(30, 10)).astype("float32")
    ll = evaluation.log_likelihood(model, x, num_samples=8, seed=4, progress=False)
    report = evaluation.evaluate_model(model, x, num_samples=8, seed=4, progress=False)
    assert report["negative_log_likelihood_standard_error"] == pytest.approx(
        ll.std(ddof=1) / np.sqrt(30), rel=1e-6
    )
    assert report["negative_log_likelihood_standard_error"] > 0


def test_mi_examples_bound_and_choice():
    """I(x; z) on N examples is at most log N; None takes all of them; bad values are refused."""
    model = DenseVAE((10,), latent_dim=2, hidden_units=(), likelihood="gaussian", seed=0)
    x = np.random.default_rng(2).normal(size=(40, 10)).astype("float32")
    for n in (5, None):
        report = evaluation.evaluate_model(model, x, num_samples=2, mi_examples=n, progress=False)
        assert report["mi_examples"] == (n or 40)
        assert report["mutual_information"] <= np.log(n or 40) + 1e-6
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="mi_examples must be"):
            evaluation.evaluate_model(model, x, num_samples=2, mi_examples=bad, progress=False)


def _old_estimate(model, x, k, chunk, seed, drop=0):
    """The estimate as written before issue 27, by hand: chunk i's noise `[chunk, B, latent]` keyed
    by `fold_in(seed, i)`, log w from TFP's own mixture in float64, the first K draws (less the last
    `drop` of them: what skipping a chunk's remainder would give)."""
    fold_in = tf.random.experimental.stateless_fold_in
    chunks = -(-k // chunk)
    eps = tf.concat(
        [
            tf.random.stateless_normal([chunk, len(x), model.latent_dim], fold_in(seed, i))
            for i in range(chunks)
        ],
        axis=0,
    )[: k - drop]
    q = model.encode(x)
    z = q.mean() + q.stddev() * eps
    prior = model.prior_distribution()
    exact_prior = tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.cast(prior.mixture_distribution.logits, tf.float64)),
        tfd.MultivariateNormalDiag(
            tf.cast(prior.components_distribution.loc, tf.float64),
            tf.cast(prior.components_distribution.scale.diag, tf.float64),
        ),
    )
    log_pz = exact_prior.log_prob(tf.cast(z, tf.float64)).numpy()
    log_w = model.decode(z).log_prob(model.prepare_inputs(x)).numpy() + log_pz - q.log_prob(z).numpy()
    log_w = log_w.astype("float64")
    return np.logaddexp.reduce(log_w, axis=0) - np.log(k)


def test_pieces_keep_the_draws_and_the_estimate():
    """Issue 27: each chunk's draws are scored in pieces (the last one shorter) and summed in a running
    (max, sum); the draws stay the chunks' and the estimate is the one-pass formula's, VampPrior included."""
    model = DenseVAE((6, 6, 1), latent_dim=3, hidden_units=(16,), prior="vamp", seed=0)
    x = np.random.default_rng(0).random((4, 6, 6, 1)).astype("float32")
    k, chunk = 23, 7  # chunks 7 + 7 + 7 + 2 (of 7 drawn); pieces of 3: 3 + 3 + 1 per chunk
    outputs = len(x) * 36
    model.IW_PIECE_ELEMENTS = 3 * outputs
    estimate = model.log_likelihood(x, num_samples=k, seed=3, max_elements=chunk * outputs).numpy()
    seed = tf.constant([3, 0], tf.int32)
    expected = _old_estimate(model, x, k, chunk, seed)
    assert np.abs(estimate - expected).max() <= 1e-4, (estimate, expected)
    # one piece per chunk (as before issue 27) gives the same numbers
    model.IW_PIECE_ELEMENTS = 2**30
    whole = model.log_likelihood(x, num_samples=k, seed=3, max_elements=chunk * outputs).numpy()
    assert np.abs(whole - estimate).max() <= 1e-5
    # wrong code is caught: dropping a chunk's short last piece, or other draws, changes the number
    assert np.abs(_old_estimate(model, x, k - 1, chunk, seed) - expected).max() > 1e-3
    assert np.abs(_old_estimate(model, x, k, chunk + 1, seed) - expected).max() > 1e-3
    dropped = _old_estimate(model, x, k, chunk, seed, drop=2) - np.log(k - 2) + np.log(k)
    assert np.abs(dropped - expected).max() > 1e-3


def test_many_pieces_do_not_accumulate_rounding():
    """150 pieces of one draw give the one-piece estimate at log p(x) near -540 nats, where a running
    float32 logsumexp would round log p(x) (6e-5 there) once per piece."""
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    x = (np.random.default_rng(0).random((4, 28, 28, 1)) > 0.5).astype("float32")
    model.IW_PIECE_ELEMENTS = 4 * 784  # one draw per piece
    pieces = evaluation.log_likelihood(model, x, num_samples=150, seed=4, progress=False)
    model.IW_PIECE_ELEMENTS = 2**30
    whole = evaluation.log_likelihood(model, x, num_samples=150, seed=4, progress=False)
    assert whole.mean() < -400
    np.testing.assert_allclose(pieces, whole, atol=5e-5, rtol=0)
