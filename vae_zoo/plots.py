"""Pictures of a VAE, written as PNG files with matplotlib (Agg backend, no screen).

Every function takes arrays (or a model) and a `path`, writes one PNG and
returns the path. Images are `[N, H, W, C]` floats in [0, 1] (C = 1 or 3).

Example:

>>> import numpy as np, tempfile, os
>>> from vae_zoo import plots
>>> path = plots.image_grid(np.random.rand(16, 28, 28, 1), os.path.join(tempfile.mkdtemp(), "grid.png"))
>>> os.path.getsize(path) > 0
True
"""

import math
import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _as_images(images):
    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, H, W, 1 or 3), got {images.shape}")
    return np.clip(images, 0.0, 1.0)


def tile(images, columns=None, pad=1):
    """Tiles `[N, H, W, C]` images into one `[rows*(H+pad), columns*(W+pad), C]` array."""
    images = _as_images(images)
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    canvas = np.ones((rows * (h + pad) - pad, columns * (w + pad) - pad, c), "float32")
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        canvas[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = image
    return canvas


def _save(fig, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _show(ax, canvas):
    ax.imshow(canvas[..., 0] if canvas.shape[-1] == 1 else canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images, path, columns=None, title=None):
    """A grid of images (e.g. samples from the prior)."""
    plt = _pyplot()
    canvas = tile(images, columns)
    scale = 6.0 / max(canvas.shape[:2])
    fig, ax = plt.subplots(figsize=(canvas.shape[1] * scale + 0.5, canvas.shape[0] * scale + 0.8))
    _show(ax, canvas)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def reconstruction_pairs(inputs, reconstructions, path, title=None):
    """Inputs (top row of each pair) above their reconstructions (bottom row)."""
    inputs, reconstructions = _as_images(inputs), _as_images(reconstructions)
    if inputs.shape != reconstructions.shape:
        raise ValueError(f"inputs {inputs.shape} and reconstructions {reconstructions.shape} differ in shape")
    columns = min(len(inputs), 10)
    rows = []
    for start in range(0, len(inputs), columns):
        rows += [inputs[start : start + columns], reconstructions[start : start + columns]]
    padded = [np.concatenate([r, np.ones((columns - len(r), *r.shape[1:]), "float32")]) for r in rows]
    return image_grid(np.concatenate(padded), path, columns=columns, title=title or "inputs (odd rows) / reconstructions (even rows)")


def model_samples(model, path, num_samples=64, seed=0, temperature=1.0):
    """Likelihood means of `num_samples` prior draws of an image `model`."""
    images = model.sample(num_samples, seed=seed, temperature=temperature).numpy()
    return image_grid(images, path, title=f"{type(model).__name__}: samples (T={temperature:g}, seed={seed})")


def model_reconstructions(model, images, path):
    """`images` and `model.reconstruct(images)`."""
    x = model.prepare_inputs(images).numpy()
    return reconstruction_pairs(x, model.reconstruct(x).numpy(), path, title=f"{type(model).__name__}: reconstructions")


def manifold(model, path, grid=20, low=0.05, high=0.95):
    """Decoder means over a grid of prior quantiles of a 2-D latent space (Kingma & Welling, Fig. 4).

    The grid runs over the standard normal quantiles in [low, high] on both
    axes. Raises ValueError for models whose latent size is not 2.
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    if model.latent_dim != 2:
        raise ValueError(
            f"the latent manifold needs a 2-D latent space, this model has latent_dim={model.latent_dim}; "
            "use kind 'traversal' (one dimension at a time) or 'scatter' (principal axes) instead"
        )
    values = tfp.distributions.Normal(0.0, 1.0).quantile(tf.linspace(low, high, grid)).numpy()
    z = np.array([[zx, zy] for zy in values[::-1] for zx in values], "float32")
    images = model.likelihood.mean(model._likelihood_params(z)).numpy()
    return image_grid(images, path, columns=grid, title=f"latent manifold: normal quantiles {low:g}..{high:g}")


def latent_scatter(model, images, labels, path, class_names=None):
    """Posterior means of `images` coloured by `labels`; first two principal axes when latent_dim > 2."""
    plt = _pyplot()
    means = model.encode(images).mean().numpy()
    if means.shape[1] > 2:
        centred = means - means.mean(axis=0)
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        points = centred @ axes[:2].T
        explained = singular[:2] ** 2 / np.sum(singular**2)
        xlabel, ylabel = (f"principal axis {i + 1} ({e:.0%} of variance)" for i, e in enumerate(explained))
    else:
        points = means if means.shape[1] == 2 else np.concatenate([means, np.zeros_like(means)], axis=1)
        xlabel, ylabel = "z[0]", "z[1]" if means.shape[1] == 2 else ""
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(7, 6))
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
    classes = np.unique(labels)
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=scatter.cmap(scatter.norm(c)),
                   label=class_names[int(c)] if class_names else str(c))
        for c in classes
    ]  # fmt: skip
    ax.legend(handles=handles, fontsize=7, loc="best", markerscale=1.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"posterior means of {len(points)} examples")
    return _save(fig, path)


def interpolation(model, image_a, image_b, path, steps=10):
    """Decoder means along the straight line between the posterior means of two images."""
    x = model.prepare_inputs(np.stack([image_a, image_b])).numpy()
    means = model.encode(x).mean().numpy()
    weights = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    z = (1 - weights) * means[0] + weights * means[1]
    decoded = model.likelihood.mean(model._likelihood_params(z)).numpy()
    images = np.concatenate([x[:1], decoded, x[1:]])
    return image_grid(images, path, columns=len(images), title=f"interpolation in latent space ({steps} steps, inputs at the ends)")


def traversals(model, image, path, dims=None, span=3.0, steps=9):
    """One row per latent dimension: that dimension swept over [-span, span] around the posterior mean of `image`."""
    x = model.prepare_inputs(np.asarray(image)[None]).numpy()
    base = model.encode(x).mean().numpy()[0]
    dims = list(range(min(model.latent_dim, 10))) if dims is None else list(dims)
    offsets = np.linspace(-span, span, steps, dtype="float32")
    z = np.repeat(base[None], len(dims) * steps, axis=0)
    for row, d in enumerate(dims):
        z[row * steps : (row + 1) * steps, d] = offsets
    decoded = model.likelihood.mean(model._likelihood_params(z)).numpy()
    return image_grid(decoded, path, columns=steps, title=f"latent traversals: rows = dims {dims}, z_d in [-{span:g}, {span:g}]")


def kl_per_dimension(values, path, threshold=None):
    """Bar chart of the average KL (nats) of each latent dimension, sorted as given."""
    plt = _pyplot()
    values = np.asarray(values, dtype="float64")
    fig, ax = plt.subplots(figsize=(max(5, 0.25 * len(values) + 2), 4))
    ax.bar(np.arange(len(values)), values, color="tab:blue")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"{threshold:g} nats")
        ax.legend()
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL(q(z_d|x) || p(z_d)) (nats)")
    ax.set_title(f"KL per dimension (total {values.sum():.2f} nats)")
    return _save(fig, path)


# ---------------------------------------------------------------------- command

KINDS = ("samples", "reconstructions", "manifold", "scatter", "interpolation", "traversal", "kl")


def add_arguments(parser):
    parser.add_argument("model", help="a .keras file or a run directory holding model.keras")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--out", required=True, help="PNG path")
    parser.add_argument("--dataset", default="fashion_mnist", help="images for reconstructions/scatter/interpolation/traversal/kl")
    parser.add_argument("--split", default="test")
    parser.add_argument("--binarize", default="static", help="static | none")
    parser.add_argument("--num", type=int, default=2000, help="examples (scatter, kl) or samples (samples)")
    parser.add_argument("--index", type=int, nargs="*", default=[0, 1], help="example indices (interpolation, traversal)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--data-dir", default=None)


def main(args):
    from vae_zoo import datasets
    from vae_zoo.loading import load_model

    model = load_model(args.model)
    if args.kind == "samples":
        path = model_samples(model, args.out, num_samples=min(args.num, 100), seed=args.seed, temperature=args.temperature)
    elif args.kind == "manifold":
        path = manifold(model, args.out)
    else:
        binarize = None if args.binarize in ("none", "None", "") else args.binarize
        x, y = datasets.load_arrays(args.dataset, split=args.split, binarize=binarize, seed=args.seed, data_dir=args.data_dir)
        x = model.prepare_inputs(x[: max(args.num, 20)]).numpy()
        if args.kind == "reconstructions":
            path = model_reconstructions(model, x[:20], args.out)
        elif args.kind == "scatter":
            names = datasets.info(args.dataset).class_names if args.dataset in datasets.KNOWN_DATASETS else None
            path = latent_scatter(model, x[: args.num], y[: args.num], args.out, class_names=names)
        elif args.kind == "interpolation":
            a, b = (args.index + [1])[:2]
            path = interpolation(model, x[a], x[b], args.out)
        elif args.kind == "traversal":
            path = traversals(model, x[args.index[0]], args.out)
        else:
            from vae_zoo.evaluation import evaluate_model

            report = evaluate_model(model, x[: args.num], num_samples=1, progress=False)
            if report["kl_per_dimension"] is None:
                raise ValueError("KL per dimension needs a diagonal posterior and a factorized (normal) prior")
            path = kl_per_dimension(report["kl_per_dimension"], args.out)
    print(path)
    return 0
