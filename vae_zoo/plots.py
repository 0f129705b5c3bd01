"""Pictures of a VAE, written as PNG files with matplotlib (Agg backend, no screen).

Every picture function takes arrays (or a model) and a `path`, writes one PNG
and returns the path. Images are `[N, H, W, C]` floats in [0, 1] (C = 1 or 3).
What each picture draws is computed by a pure function that returns it: a
`*_canvas` function (the tiled image array), `*_latents` (the decoded z) or a
`*_figure` function (the matplotlib figure, not yet saved), so it can be
checked without reading the PNG back.

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


def _decode_mean(model, z):
    """The likelihood mean of p(x|z) for each row of `z`, as a NumPy array."""
    return model.decode_outputs(np.asarray(z, "float32"))["mean"].numpy()


def canvas_figure(canvas, title=None, size=700):
    """A figure showing a tiled `[H, W, C]` canvas (grayscale when C = 1), with an optional title.

    Each canvas pixel becomes a square of `zoom` x `zoom` screen pixels at the saving dpi (100), with
    `zoom` the largest whole number keeping the longer side within `size` pixels (at least 1): a
    whole-number nearest-neighbour magnification draws every pixel and every 1-pixel gap equally wide.
    """
    plt = _pyplot()
    h, w = canvas.shape[:2]
    zoom = max(1, size // max(h, w))
    fig = plt.figure(figsize=(w * zoom / 100, h * zoom / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(
        canvas[..., 0] if canvas.shape[-1] == 1 else canvas,
        cmap="gray",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return fig


def _draw(canvas, path, title):
    return _save(canvas_figure(canvas, title), path)


# ---------------------------------------------------------------------- image grids


def image_grid(images, path, columns=None, title=None):
    """A grid of images (e.g. samples from the prior)."""
    return _draw(tile(images, columns), path, title)


def pairs_canvas(inputs, reconstructions, columns=10):
    """Rows of up to `columns` inputs, each row followed by a row of their reconstructions."""
    inputs, reconstructions = _as_images(inputs), _as_images(reconstructions)
    if inputs.shape != reconstructions.shape:
        raise ValueError(f"inputs {inputs.shape} and reconstructions {reconstructions.shape} differ in shape")
    columns = min(len(inputs), columns)
    rows = []
    for start in range(0, len(inputs), columns):
        rows += [inputs[start : start + columns], reconstructions[start : start + columns]]
    padded = [np.concatenate([r, np.ones((columns - len(r), *r.shape[1:]), "float32")]) for r in rows]
    return tile(np.concatenate(padded), columns=columns)


def reconstruction_pairs(inputs, reconstructions, path, title=None):
    """Inputs (top row of each pair) above their reconstructions (bottom row)."""
    canvas = pairs_canvas(inputs, reconstructions)
    return _draw(canvas, path, title or "inputs (odd rows) / reconstructions (even rows)")


def samples_canvas(model, num_samples=64, seed=0, temperature=1.0):
    """The tiled likelihood means of `model.sample(num_samples, seed=seed, temperature=temperature)`."""
    return tile(model.sample(num_samples, seed=seed, temperature=temperature).numpy())


def model_samples(model, path, num_samples=64, seed=0, temperature=1.0):
    """Likelihood means of `num_samples` prior draws of an image `model`."""
    canvas = samples_canvas(model, num_samples, seed, temperature)
    return _draw(canvas, path, f"{type(model).__name__}: samples (T={temperature:g}, seed={seed})")


def reconstructions_canvas(model, images):
    """`images` (prepared) in rows above their `model.reconstruct` rows (see `pairs_canvas`)."""
    x = model.prepare_inputs(images).numpy()
    return pairs_canvas(x, model.reconstruct(x).numpy())


def model_reconstructions(model, images, path):
    """`images` and `model.reconstruct(images)`."""
    return _draw(reconstructions_canvas(model, images), path, f"{type(model).__name__}: reconstructions")


def manifold_latents(grid=20, low=0.05, high=0.95):
    """The `[grid * grid, 2]` latent codes of the manifold, row-major as drawn: standard normal
    quantiles in [low, high]; z[0] grows to the right, z[1] grows upwards (top row = quantile `high`)."""
    from statistics import NormalDist

    values = np.array([NormalDist().inv_cdf(p) for p in np.linspace(low, high, int(grid))], "float32")
    return np.array([[zx, zy] for zy in values[::-1] for zx in values], "float32")


def manifold_canvas(model, grid=20, low=0.05, high=0.95):
    """Decoder means at `manifold_latents(grid, low, high)`, tiled `grid` per row. Needs latent_dim 2."""
    if model.latent_dim != 2:
        raise ValueError(
            f"the latent manifold needs a 2-D latent space, this model has latent_dim={model.latent_dim}; "
            "use kind 'traversal' (one dimension at a time) or 'scatter' (principal axes) instead"
        )
    return tile(_decode_mean(model, manifold_latents(grid, low, high)), columns=int(grid))


def manifold(model, path, grid=20, low=0.05, high=0.95):
    """Decoder means over a grid of prior quantiles of a 2-D latent space (Kingma & Welling, Fig. 4).

    The grid runs over the standard normal quantiles in [low, high] on both
    axes. Raises ValueError for models whose latent size is not 2.
    """
    canvas = manifold_canvas(model, grid, low, high)
    return _draw(canvas, path, f"latent manifold: normal quantiles {low:g}..{high:g}")


def interpolation_latents(model, image_a, image_b, steps=10):
    """`(x, z)`: the two prepared inputs `[2, ...]` and `steps` codes on the straight line from
    the posterior mean of `image_a` (first) to that of `image_b` (last), `[steps, latent_dim]`."""
    x = model.prepare_inputs(np.stack([image_a, image_b])).numpy()
    means = model.encode(x).mean().numpy()
    weights = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    return x, (1 - weights) * means[0] + weights * means[1]


def interpolation_canvas(model, image_a, image_b, steps=10):
    """One row: `image_a`, the decoded `interpolation_latents`, `image_b`."""
    x, z = interpolation_latents(model, image_a, image_b, steps)
    images = np.concatenate([x[:1], _decode_mean(model, z), x[1:]])
    return tile(images, columns=len(images))


def interpolation(model, image_a, image_b, path, steps=10):
    """Decoder means along the straight line between the posterior means of two images."""
    canvas = interpolation_canvas(model, image_a, image_b, steps)
    return _draw(canvas, path, f"interpolation in latent space ({steps} steps, inputs at the ends)")


def traversal_latents(model, image, dims=None, span=3.0, steps=9):
    """`[len(dims) * steps, latent_dim]` codes: block `r` is the posterior mean of `image` with
    dimension `dims[r]` set to linspace(-span, span, steps) in turn (the others stay at the mean).
    `dims` defaults to the first (up to) 10 dimensions."""
    x = model.prepare_inputs(np.asarray(image)[None]).numpy()
    base = model.encode(x).mean().numpy()[0]
    dims = list(range(min(model.latent_dim, 10))) if dims is None else list(dims)
    offsets = np.linspace(-span, span, steps, dtype="float32")
    z = np.repeat(base[None], len(dims) * steps, axis=0)
    for row, d in enumerate(dims):
        z[row * steps : (row + 1) * steps, d] = offsets
    return z


def traversal_canvas(model, image, dims=None, span=3.0, steps=9):
    """Decoded `traversal_latents`, one row of `steps` images per swept dimension."""
    return tile(_decode_mean(model, traversal_latents(model, image, dims, span, steps)), columns=steps)


def traversals(model, image, path, dims=None, span=3.0, steps=9):
    """One row per latent dimension: that dimension swept over [-span, span] around the posterior
    mean of `image`."""
    dims = list(range(min(model.latent_dim, 10))) if dims is None else list(dims)
    canvas = traversal_canvas(model, image, dims, span, steps)
    return _draw(canvas, path, f"latent traversals: rows = dims {dims}, z_d in [-{span:g}, {span:g}]")


# ---------------------------------------------------------------------- charts


def _check_labels(labels, num_images):
    if labels is None:
        raise ValueError(
            f"the scatter plot colours points by class and needs labels, one per image; "
            f"got labels=None for {num_images} images"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != num_images:
        raise ValueError(
            f"the scatter plot needs one label per image: {num_images} images "
            f"but labels of shape {labels.shape} "
            f"({labels.size} labels)"
        )
    return labels


def scatter_points(model, images):
    """`(points [N, 2], xlabel, ylabel)`: the posterior means of `images`, projected on their first
    two principal axes when latent_dim > 2 (a latent_dim 1 model gets a zero second coordinate)."""
    means = model.encode(images).mean().numpy()
    if means.shape[1] > 2:
        centred = means - means.mean(axis=0)
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        explained = singular[:2] ** 2 / np.sum(singular**2)
        xlabel, ylabel = (f"principal axis {i + 1} ({e:.0%} of variance)" for i, e in enumerate(explained))
        return centred @ axes[:2].T, xlabel, ylabel
    if means.shape[1] == 2:
        return means, "z[0]", "z[1]"
    return np.concatenate([means, np.zeros_like(means)], axis=1), "z[0]", ""


def scatter_figure(model, images, labels, class_names=None):
    """The figure of `latent_scatter` (not saved): one point per image at `scatter_points`,
    coloured by label."""
    plt = _pyplot()
    labels = _check_labels(labels, len(images))
    points, xlabel, ylabel = scatter_points(model, images)
    fig, ax = plt.subplots(figsize=(7, 6))
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
    handles = [
        plt.Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color=scatter.cmap(scatter.norm(c)),
            label=class_names[int(c)] if class_names else str(c),
        )
        for c in np.unique(labels)
    ]
    ax.legend(handles=handles, fontsize=7, loc="best", markerscale=1.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"posterior means of {len(points)} examples")
    return fig


def latent_scatter(model, images, labels, path, class_names=None):
    """Posterior means of `images` coloured by `labels`; first two principal axes when latent_dim > 2."""
    return _save(scatter_figure(model, images, labels, class_names), path)


def kl_figure(values, threshold=None):
    """The figure of `kl_per_dimension` (not saved): one bar per value, in the order given."""
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
    return fig


def kl_per_dimension(values, path, threshold=None):
    """Bar chart of the average KL (nats) of each latent dimension, sorted as given."""
    return _save(kl_figure(values, threshold), path)


# ---------------------------------------------------------------------- command

KINDS = ("samples", "reconstructions", "manifold", "scatter", "interpolation", "traversal", "kl")


def add_arguments(parser):
    parser.add_argument("model", help="a .keras file or a run directory holding model.keras")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--out", required=True, help="PNG path")
    parser.add_argument(
        "--dataset",
        default="fashion_mnist",
        help="images for reconstructions/scatter/interpolation/traversal/kl",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--binarize", default="static", help="static | none")
    parser.add_argument("--num", type=int, default=2000, help="examples (scatter, kl) or samples (samples)")
    parser.add_argument(
        "--index", type=int, nargs="*", default=[0, 1], help="example indices (interpolation, traversal)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--data-dir", default=None)


def _example_indices(args, size):
    """The `--index` values the kind uses (interpolation: two, the second defaulting to 1; traversal: one),
    each checked to lie in the split's `size` examples."""
    if not args.index:
        raise ValueError(f"--index needs an example index for kind {args.kind!r}, got none")
    indices = (args.index + [1])[:2] if args.kind == "interpolation" else args.index[:1]
    for index in indices:
        if not 0 <= index < size:
            valid = f"valid 0..{size - 1}" if size else "it is empty"
            raise ValueError(
                f"--index {index} is out of range: "
                f"the {args.split} split of {args.dataset} has {size} examples ({valid})"
            )
    return indices


def main(args):
    from vae_zoo.presets import load_model

    model = load_model(args.model)
    if args.kind == "samples":
        path = model_samples(
            model, args.out, num_samples=min(args.num, 100), seed=args.seed, temperature=args.temperature
        )
    elif args.kind == "manifold":
        path = manifold(model, args.out)
    else:
        path = _dataset_picture(model, args)
    print(path)
    return 0


def _dataset_picture(model, args):
    """The kinds drawn from examples of `--dataset`: reconstructions, scatter, interpolation,
    traversal, kl."""
    from vae_zoo import datasets

    binarize = None if args.binarize in ("none", "None", "") else args.binarize
    x, y = datasets.load_arrays(
        args.dataset, split=args.split, binarize=binarize, seed=args.seed, data_dir=args.data_dir
    )
    if args.kind in ("interpolation", "traversal"):
        chosen = model.prepare_inputs(x[_example_indices(args, len(x))]).numpy()
        if args.kind == "interpolation":
            return interpolation(model, chosen[0], chosen[1], args.out)
        return traversals(model, chosen[0], args.out)
    x = model.prepare_inputs(x[: max(args.num, 20)]).numpy()
    if args.kind == "reconstructions":
        return model_reconstructions(model, x[:20], args.out)
    if args.kind == "scatter":
        if y is None:
            raise ValueError(
                f"the scatter plot colours points by class and needs labels, but the {args.split} split of "
                f"{args.dataset} has none (its loader returned y=None); "
                "use a labelled dataset or another --kind"
            )
        names = datasets.info(args.dataset).class_names if args.dataset in datasets.KNOWN_DATASETS else None
        return latent_scatter(model, x[: args.num], y[: args.num], args.out, class_names=names)
    from vae_zoo.evaluation import evaluate_model

    report = evaluate_model(model, x[: args.num], num_samples=1, progress=False)
    if report["kl_per_dimension"] is None:
        raise ValueError("KL per dimension needs a diagonal posterior and a factorized (normal) prior")
    return kl_per_dimension(report["kl_per_dimension"], args.out)
