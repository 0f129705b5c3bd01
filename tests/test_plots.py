"""Pictures: every kind writes a PNG of the expected layout; bad requests fail clearly."""

import subprocess
import sys

import numpy as np
import pytest

from vae_zoo import plots
from vae_zoo.models import DenseVAE


def png_size(path):
    import matplotlib.image

    return matplotlib.image.imread(path).shape


def test_tile_layout():
    images = np.stack([np.full((2, 3, 1), v, "float32") for v in (0.1, 0.2, 0.3, 0.4, 0.5)])
    canvas = plots.tile(images, columns=2, pad=1)
    assert canvas.shape == (3 * 3 - 1, 2 * 4 - 1, 1)
    assert canvas[0, 0, 0] == pytest.approx(0.1) and canvas[3, 4, 0] == pytest.approx(0.4)
    assert canvas[6, 4, 0] == 1.0  # the empty sixth cell stays white



@pytest.fixture(scope="module")
def model2d():
    return DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(32,), seed=0)


@pytest.fixture(scope="module")
def images(fashion_test):
    x, y = fashion_test
    return x[:200].astype("float32") / 255, y[:200]


def test_every_picture(tmp_path, model2d, images):
    x, y = images
    paths = [
        plots.model_samples(model2d, str(tmp_path / "samples.png"), num_samples=16),
        plots.model_reconstructions(model2d, x[:10], str(tmp_path / "recon.png")),
        plots.manifold(model2d, str(tmp_path / "manifold.png"), grid=10),
        plots.latent_scatter(model2d, x, y, str(tmp_path / "scatter.png"), class_names=[str(i) for i in range(10)]),
        plots.interpolation(model2d, x[0], x[1], str(tmp_path / "interp.png"), steps=8),
        plots.traversals(model2d, x[0], str(tmp_path / "trav.png")),
        plots.kl_per_dimension([0.5, 2.0, 0.01], str(tmp_path / "kl.png"), threshold=0.1),
    ]
    for path in paths:
        height, width, _ = png_size(path)
        if path.endswith("interp.png"):  # one row: 8 steps and the two inputs
            assert width > 4 * height > 200, (path, height, width)
        else:
            assert height > 100 and width > 100, path


def test_scatter_projects_on_principal_axes(tmp_path, images):
    model = DenseVAE((28, 28, 1), latent_dim=5, hidden_units=(16,), seed=0)
    x, y = images
    path = plots.latent_scatter(model, x, y, str(tmp_path / "pca.png"))
    assert png_size(path)[0] > 100


def test_manifold_needs_two_latent_dimensions(tmp_path):
    model = DenseVAE((28, 28, 1), latent_dim=3, hidden_units=(8,), seed=0)
    with pytest.raises(ValueError, match="needs a 2-D latent space, this model has latent_dim=3; use kind 'traversal'"):
        plots.manifold(model, str(tmp_path / "m.png"))


def test_bad_images_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W, 1 or 3\), got \(4, 28, 28, 2\)"):
        plots.image_grid(np.zeros((4, 28, 28, 2)), str(tmp_path / "x.png"))


def test_plot_command(tmp_path, model2d):
    model2d.save(tmp_path / "model.keras")
    for kind in ("samples", "manifold", "scatter", "traversal"):
        out = tmp_path / f"{kind}.png"
        result = subprocess.run(
            [sys.executable, "-m", "vae_zoo.cli", "plot", str(tmp_path / "model.keras"), "--kind", kind, "--out", str(out), "--num", "300"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert png_size(out)[0] > 100
