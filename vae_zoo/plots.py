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
