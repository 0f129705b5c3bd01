"""Numbers beyond the ELBO: importance-weighted log-likelihood and posterior diagnostics.

* `log_likelihood(model, data, num_samples=5000)`: log p(x) per example,
  estimated by importance sampling with q(z|x) as proposal (Burda et al. 2015),
  with a progress bar over the data; memory is bounded whatever `num_samples`
  (samples are drawn in chunks inside the graph, see `VAE.log_likelihood`).
* `evaluate_model(model, data)`: one report with the ELBO, its terms, the
  importance-weighted log-likelihood with its standard error over examples,
  KL per latent dimension, active units (Cov_x E_q[z_d] > 0.01), and "ELBO
  surgery" (Hoffman & Johnson 2016): the average KL = I(x; z) + KL(q(z) || p(z)),
  where q(z) is the aggregate posterior over `mi_examples` examples. With N
  examples the estimate of I(x; z) can never exceed log N (log 1000 = 6.91,
  log 2000 = 7.60, log 3000 = 8.01, log 10000 = 9.21 nats): a measured I close
  to log N says "at least this much", so pass enough examples.
* `paired_standard_error(a, b)`: the standard error of a difference of two
  measurements of the same examples (e.g. two models' per-image NLL).

A kind of data's own numbers (the word-level report of sentences) and how a split of it is
read (`load_split`, `preset_data`) live with the kind, in `vae_zoo.kinds`.

Example:

>>> import numpy as np
>>> import vae_zoo
>>> from vae_zoo import evaluation
>>> model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
>>> x = np.random.default_rng(0).random((20, 28, 28, 1), dtype="float32")
>>> report = evaluation.evaluate_model(model, x, num_samples=10, progress=False)
>>> report["negative_log_likelihood"] <= report["negative_elbo"] + 1.0
True
"""

import math
import sys

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.saved_passes import SavedPass
from vae_zoo.utils.checks import is_integer

ACTIVE_UNIT_THRESHOLD = 0.01


def as_array(data, max_examples=None):
    """Materializes `data` (array, or a dataset of `x` or `(x, y)` batches) as a NumPy array of x."""
    if isinstance(data, tf.data.Dataset):
        chunks, count = [], 0
        for batch in data:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            chunks.append(np.asarray(x))
            count += len(chunks[-1])
            if max_examples is not None and count >= max_examples:
                break
        if not chunks:
            raise ValueError("the dataset is empty")
        data = np.concatenate(chunks)
    elif isinstance(data, (tuple, list)):
        data = data[0]
    data = np.asarray(data)
    return data if max_examples is None else data[:max_examples]


def _batches(x, batch_size):
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


def _check_inputs(model, x):
    """Shape, dtype and value errors (ValueError) before any work: the public `prepare_inputs` on the first
    example repeated to the whole array's shape (a view), so a shape error names the array's own shape."""
    model.prepare_inputs(np.broadcast_to(x[:1], x.shape) if len(x) else x)


def _check_num_samples(num_samples):
    if not is_integer(num_samples, 1):
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    return int(num_samples)


def log_likelihood(
    model,
    data,
    num_samples=5000,
    seed=0,
    batch_size=100,
    jit_compile=False,
    progress=True,
    resume_dir=None,
    earlier_seconds=None,
):
    """Importance-weighted estimate of log p(x) (nats) for every example of `data`, as a NumPy array.

    Each batch uses the stateless seed `[seed, batch index]`, so the estimate is
    reproducible. Batches follow `model.evaluation_order(x)` (sentences grouped by
    length: a batch costs its longest); the results are in the order of `data`.
    `jit_compile=True` compiles the chunk loop with XLA.

    `resume_dir`: a folder where the estimates are saved after every batch, in a file named by a digest of
    everything they depend on (the model's weights, the data, `num_samples`, `seed`, `batch_size`,
    `jit_compile`, and the code: `saved_passes.estimator_sources(model)` and the TensorFlow, Keras and TFP
    versions, so a changed estimator or model never reads estimates saved before the change); an
    interrupted call started again with the same arguments goes on from its last batch and returns what
    one uninterrupted call returns. The file stays once complete (4 bytes an example), so repeating a
    finished call costs nothing. Beside it a JSON file keeps the seconds every session spent on the pass;
    `earlier_seconds` (a `saved_passes.EarlierSeconds`) is given what the saved part had cost.
    """
    num_samples = _check_num_samples(num_samples)
    x = as_array(data)
    _check_inputs(model, x)
    order = model.evaluation_order(x)
    if order is not None:
        x = x[order]
    saved = SavedPass(resume_dir, model, x, (num_samples, seed, batch_size, bool(jit_compile)))

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def estimate(batch, batch_seed):
        return model.importance_weighted_log_likelihood(model.prepare_inputs(batch), num_samples, batch_seed)

    results, seconds = saved.load()
    if earlier_seconds is not None:
        earlier_seconds.add(seconds)
    if progress and len(results):
        done = "finished" if len(results) == len(x) else f"{len(results)} of {len(x)} examples done"
        print(f"a saved pass, {done} ({seconds:.0f} s): {saved.path}", file=sys.stderr)
    # the bar counts the examples left, so that its rate and time left are this session's
    left = len(x) - len(results)
    bar = keras.utils.Progbar(left, unit_name="example") if progress and left else None
    for index, batch in enumerate(_batches(x, batch_size)):
        if index * batch_size < len(results):  # estimated before an interruption
            continue
        value = estimate(tf.constant(batch), tf.constant([seed, index], tf.int32)).numpy()
        results = np.concatenate([results, value])
        saved.save(results)
        if bar is not None:
            bar.add(len(batch))
    if order is None:
        return results
    unsorted = np.empty_like(results)
    unsorted[order] = results
    return unsorted


def _posterior_statistics(model, x, batch_size, seed):
    """Per-example posterior means, KL, KL per dimension, reconstruction terms, squared error."""
    stats = {"means": [], "kl": [], "kl_per_dim": [], "log_px_z": [], "sq_error": []}

    @tf.function(reduce_retracing=True)
    def step(batch, batch_seed):
        prepared = model.prepare_inputs(batch)
        terms = model.compute_terms(prepared, batch_seed, num_samples=1)
        if model.likelihood.integer_events:  # tokens: no squared error (and no greedy decoding)
            error = tf.zeros([tf.shape(prepared)[0]])
        else:
            axes = list(range(1, len(model.data_shape) + 1))
            error = tf.reduce_sum(tf.square(model.reconstruct(prepared) - prepared), axis=axes)
        per_dim = (
            terms["kl_per_dim"] if terms["kl_per_dim"] is not None else tf.zeros_like(terms["params"]["loc"])
        )
        return terms["params"]["loc"], terms["kl"], per_dim, terms["log_px_z"][0], error

    for index, batch in enumerate(_batches(x, batch_size)):
        outputs = step(tf.constant(batch), tf.constant([seed, 10_000 + index], tf.int32))
        for key, value in zip(stats, outputs):
            stats[key].append(value.numpy())
    return {key: np.concatenate(values) for key, values in stats.items()}


def kl_by_layer(model, kl_per_dim):
    """`kl_per_layer` (the average KL of each stochastic layer, top first) and `kl_units_per_layer`
    (per layer, the dimensions whose average KL exceeds `ACTIVE_UNIT_THRESHOLD` nats; None for a layer
    whose prior does not factorize, as a VampPrior at the top) of a model with several stochastic layers
    (`latent_dims`); `{}` for one layer. `kl_per_dim` `[N, latent_dim]`: the layers' KL along the sampled
    path, each layer's dimensions summing to its KL. The KL counts the posterior's use of a layer, where the
    active-unit count (Cov_x E_q[z_d]) counts a layer's conditional mean moving with the layers above."""
    sizes = getattr(model, "latent_dims", None)
    if sizes is None or len(sizes) < 2:
        return {}
    layers = np.split(kl_per_dim.mean(axis=0), np.cumsum(sizes)[:-1])
    per_dimension = [model.prior.factorized] + [True] * (len(sizes) - 1)  # each lower dim is its own group
    return {
        "kl_per_layer": [float(layer.sum()) for layer in layers],
        "kl_units_per_layer": [
            int((layer > ACTIVE_UNIT_THRESHOLD).sum()) if exact else None
            for layer, exact in zip(layers, per_dimension)
        ],
    }


def mutual_information(model, x, seed=0, max_pairs=2**18, progress=False):
    """Index-code mutual information I(x; z) under q(x, z) = p_data(x) q(z|x), in nats.

    I = E_x E_{q(z|x)}[log q(z|x) - log q(z)], with the aggregate posterior
    q(z) = 1/N sum_n q(z|x_n) over the N examples of `x` (so I <= log N).
    Cost O(N^2 latent_dim); pass a few thousand examples. The N^2 pairs (z_i, x_m) go through
    `q.log_prob` in blocks of at most `max_pairs` (at least one row of N), so memory stays bounded where
    log q(z_i | x_m) runs a network per pair (a hierarchy's top-down walk: 256 rows of 10,000 pairs
    needed over 20 GiB). `progress=True` shows a bar over the N samples z_i.
    """
    prepared = model.prepare_inputs(x)
    params = model.posterior_parameters(prepared)
    q = model.posterior_from_parameters(params)
    eps = tf.random.stateless_normal(tf.shape(params["loc"]), tf.constant([seed, 7], tf.int32))
    z = model.reparameterize(params, eps)
    n = int(z.shape[0])
    log_q_own = q.log_prob(z).numpy()
    log_q_aggregate, block = [], max(1, max_pairs // n)
    bar = keras.utils.Progbar(n, unit_name="sample") if progress else None
    for rows in _batches(z, block):
        pairwise = q.log_prob(rows[:, None, :])  # [block, N]: log q(z_i | x_m)
        log_q_aggregate.append((tf.reduce_logsumexp(pairwise, axis=1) - math.log(n)).numpy())
        if bar is not None:
            bar.add(len(log_q_aggregate[-1]))
    return float(np.mean(log_q_own - np.concatenate(log_q_aggregate)))


def standard_error(values):
    """Standard error of the mean of `values`: std with ddof=1 over sqrt(n); None for fewer than 2 values."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return None
    return float(values.std(ddof=1) / math.sqrt(values.size))


def paired_standard_error(a, b):
    """Standard error of mean(a) - mean(b) for two measurements of the same examples, in the same order
    (e.g. two models' per-example NLL on one test set): `standard_error(a - b)`. Per-example difficulty is
    shared, so it is usually far below the unpaired sqrt(SE_a^2 + SE_b^2)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"paired_standard_error expects two 1-D arrays of per-example values of the same examples, "
            f"got shapes {a.shape} and {b.shape}"
        )
    return standard_error(a - b)


def evaluate_model(
    model,
    data,
    num_samples=1000,
    seed=0,
    batch_size=100,
    max_examples=None,
    mi_examples=2000,
    progress=True,
    per_example=False,
    resume_dir=None,
    earlier_seconds=None,
):
    """A dict of evaluation numbers (nats per example unless said otherwise), JSON-serializable;
    `per_example=True` returns `(report, per-example log p(x) estimates)` (NumPy, in the order of `data`:
    for paired comparisons).

    Keys: `num_examples`, `num_samples`, `elbo`, `negative_elbo`, `kl`,
    `reconstruction` (-E_q log p(x|z)), `squared_error` (sum over pixels of
    (reconstruct(x) - x)^2), `log_likelihood` and `negative_log_likelihood`
    (importance-weighted, `num_samples` samples, averaged over the examples),
    `negative_log_likelihood_standard_error` (the standard error of that average
    over examples: std of the per-example log p(x) estimates, ddof=1, over
    sqrt(num_examples); None for a single example), `kl_per_dimension` (None when
    q or p does not factorize), `posterior_mean_variance` (Cov_x E_q[z_d]),
    `active_units`, `active_unit_threshold`, `kl_per_layer` and `kl_units_per_layer` (models with
    several stochastic layers, `kl_by_layer`), `mutual_information` and
    `marginal_kl` (ELBO surgery, on the first `mi_examples` examples, None for
    all of them; `mi_examples` in the report is the number used). `kl_mi_examples`
    is the average KL on the same examples, so `kl_mi_examples = mutual_information + marginal_kl`.
    The aggregate posterior q(z) is a mixture of the N = `mi_examples` posteriors,
    so the estimate of I(x; z) is at most log N nats: to be able to show I >= 8
    nats, N must be at least e^8, about 3,000 (cost O(N^2 latent_dim)).
    `resume_dir` makes the importance-weighted pass resumable, and `earlier_seconds` counts what its saved
    part had cost (see `log_likelihood`).
    Token-sequence models also get `tokens` (non-padding, `[EOS]` included),
    `perplexity` = exp(-sum log p(x) / tokens) and `elbo_perplexity` (from the ELBO).
    """
    num_samples = _check_num_samples(num_samples)
    if mi_examples is not None and not is_integer(mi_examples, 1):
        raise ValueError(f"mi_examples must be an integer >= 1 or None (all examples), got {mi_examples!r}")
    x = as_array(data, max_examples)
    _check_inputs(model, x)
    stats = _posterior_statistics(model, x, batch_size, seed)
    ll = log_likelihood(
        model,
        x,
        num_samples=num_samples,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
        resume_dir=resume_dir,
        earlier_seconds=earlier_seconds,
    )
    variance = stats["means"].var(axis=0)
    subset = x[:mi_examples]
    mi = mutual_information(model, subset, seed=seed, progress=progress)
    kl_subset = float(stats["kl"][: len(subset)].mean())
    factorized = model.posterior.factorized and model.prior.factorized
    elbo = float(np.mean(stats["log_px_z"] - stats["kl"]))
    extra = {}
    pad_id = model.likelihood.pad_id
    if pad_id is not None:  # token sequences: perplexity per token, [EOS] included
        tokens = int((x != pad_id).sum())
        extra = {
            "tokens": tokens,
            "perplexity": float(np.exp(-ll.sum() / tokens)),
            "elbo_perplexity": float(np.exp(-elbo * len(x) / tokens)),
        }
    report = {
        "num_examples": int(len(x)),
        "num_samples": num_samples,
        "elbo": elbo,
        "negative_elbo": -elbo,
        "kl": float(stats["kl"].mean()),
        "reconstruction": float(-stats["log_px_z"].mean()),
        "squared_error": None if model.likelihood.integer_events else float(stats["sq_error"].mean()),
        "log_likelihood": float(ll.mean()),
        "negative_log_likelihood": float(-ll.mean()),
        "negative_log_likelihood_standard_error": standard_error(ll),
        "kl_per_dimension": stats["kl_per_dim"].mean(axis=0).tolist() if factorized else None,
        **kl_by_layer(model, stats["kl_per_dim"]),
        "posterior_mean_variance": variance.tolist(),
        "active_units": int((variance > ACTIVE_UNIT_THRESHOLD).sum()),
        "active_unit_threshold": ACTIVE_UNIT_THRESHOLD,
        "mi_examples": int(len(subset)),
        "kl_mi_examples": kl_subset,
        "mutual_information": mi,
        "marginal_kl": kl_subset - mi,
        **extra,
    }
    return (report, ll) if per_example else report
