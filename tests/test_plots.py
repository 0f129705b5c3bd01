"""Pictures: each kind draws what it claims (checked on the arrays and on the PNG's pixels); bad requests fail
clearly."""

import subprocess
import sys

import keras
import matplotlib.image
import numpy as np
import pytest
import tensorflow_probability as tfp

from vae_zoo import cli, datasets, plots
from vae_zoo.models import DenseVAE


def png_size(path):
    return matplotlib.image.imread(path).shape


def _longest_dark_run(dark):
    """Per row of a boolean `[R, C]` mask: the longest run of consecutive True."""
    best = current = np.zeros(len(dark), int)
    for column in dark.T:
        current = np.where(column, current + 1, 0)
        best = np.maximum(best, current)
    return best


def _frame(path):
    """`(gray, top, bottom, left, right)`: a PNG of `plots.canvas_figure` in gray and the rows and
    columns of the axes spines framing its image. The top and bottom spines are the only rows with a
    dark run about the frame's width: the white padding between the canvas's columns breaks any other."""
    gray = matplotlib.image.imread(path)[..., :3].mean(axis=-1)
    dark = gray < 0.3
    runs = _longest_dark_run(dark)
    frame = np.flatnonzero(runs >= 0.9 * runs.max())
    split = np.flatnonzero(np.diff(frame) > 1)
    assert len(split) == 1, f"no single axes frame found in {path}: rows {frame}"
    top_rows, bottom_rows = frame[: split[0] + 1], frame[split[0] + 1 :]
    spine = np.flatnonzero(dark[top_rows[0]])
    half = (len(top_rows) - 1) / 2
    return gray, top_rows.mean(), bottom_rows.mean(), spine.min() + half, spine.max() - half


def png_pixels(path, shape):
    """The gray values of the canvas of `shape` shown in the PNG at `path`. `canvas_figure` draws each
    canvas pixel as a whole square of screen pixels, starting under the top and left spines; this
    reads the centre of each square."""
    gray, top, bottom, left, right = _frame(path)
    rows = (top + (np.arange(shape[0]) + 0.5) * (bottom - top) / shape[0]).astype(int)
    columns = (left + (np.arange(shape[1]) + 0.5) * (right - left) / shape[1]).astype(int)
    return gray[np.ix_(rows, columns)]


def correlation(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


def assert_png_shows(path, canvas, wrong):
    """The PNG at `path` shows `canvas` (a `[H, W, 1]` array), not the `wrong` canvas a plausible bug would
    draw."""
    shown = png_pixels(path, canvas.shape)
    right, other = correlation(shown, canvas), correlation(shown, wrong)
    error = np.abs(shown - canvas[..., 0]).mean()
    assert right > 0.995 and error < 0.005 and other < 0.95, (path, right, other, error)


def cell(canvas, index, columns, size=28, pad=1):
    """Image `index` of a canvas tiled `columns` per row from `size`-pixel images."""
    r, c = divmod(index, columns)
    return canvas[r * (size + pad) : r * (size + pad) + size, c * (size + pad) : c * (size + pad) + size]


def test_tile_layout():
    images = np.stack([np.full((2, 3, 1), v, "float32") for v in (0.1, 0.2, 0.3, 0.4, 0.5)])
    canvas = plots.tile(images, columns=2, pad=1)
    assert canvas.shape == (3 * 3 - 1, 2 * 4 - 1, 1)
    assert canvas[0, 0, 0] == pytest.approx(0.1) and canvas[3, 4, 0] == pytest.approx(0.4)
    assert canvas[6, 4, 0] == 1.0  # the empty sixth cell stays white


@pytest.fixture(scope="module")
def model2d(fashion_train):
    """Trained for two quick epochs, so that different codes decode to visibly different images."""
    keras.utils.set_random_seed(0)
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(32,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit((fashion_train > 127).astype("float32"), batch_size=100, epochs=2, verbose=0)
    return model


@pytest.fixture(scope="module")
def images(fashion_test):
    x, y = fashion_test
    return x[:200].astype("float32") / 255, y[:200]


def decoded(model, z):
    return model.decode(np.asarray(z, "float32")).mean().numpy()


def test_samples_show_model_samples_of_the_seed(tmp_path, model2d):
    canvas = plots.samples_canvas(model2d, 16, seed=3)
    np.testing.assert_array_equal(canvas, plots.tile(model2d.sample(16, seed=3).numpy()))
    path = plots.model_samples(model2d, str(tmp_path / "samples.png"), num_samples=16, seed=3)
    assert_png_shows(path, canvas, wrong=plots.samples_canvas(model2d, 16, seed=4))


def test_reconstructions_show_inputs_above_reconstructions(tmp_path, model2d, images):
    x = images[0][:12]
    canvas = plots.reconstructions_canvas(model2d, x)
    recon = model2d.reconstruct(x).numpy()
    assert canvas.shape == (
        4 * 29 - 1,
        10 * 29 - 1,
        1,
    )  # 10 per row: inputs 0-9, recon 0-9, inputs 10-11, recon 10-11
    for i in range(12):
        r, c = divmod(i, 10)
        np.testing.assert_allclose(cell(canvas, 20 * r + c, 10), x[i], atol=1e-6)
        np.testing.assert_allclose(cell(canvas, 20 * r + 10 + c, 10), recon[i], atol=1e-6)
    assert (cell(canvas, 32, 10) == 1).all()  # past the last input: white
    path = plots.model_reconstructions(model2d, x, str(tmp_path / "recon.png"))
    assert_png_shows(path, canvas, wrong=plots.pairs_canvas(recon, x))


def test_manifold_decodes_the_normal_quantiles(tmp_path, model2d):
    z = plots.manifold_latents(grid=5, low=0.1, high=0.8)
    q = tfp.distributions.Normal(0.0, 1.0).quantile(np.linspace(0.1, 0.8, 5).astype("float32")).numpy()
    # drawn row-major: z[0] grows to the right, z[1] upwards (the top row holds quantile 0.8)
    expected = np.array([[[q[c], q[4 - r]] for c in range(5)] for r in range(5)]).reshape(25, 2)
    np.testing.assert_allclose(z, expected, atol=1e-5)
    assert z[0] == pytest.approx([-1.2816, 0.8416], abs=1e-4) and z[20] == pytest.approx(
        [-1.2816, -1.2816], abs=1e-4
    )
    canvas = plots.manifold_canvas(model2d, grid=5, low=0.1, high=0.8)
    np.testing.assert_allclose(canvas, plots.tile(decoded(model2d, z), columns=5), atol=1e-6)
    np.testing.assert_allclose(
        cell(canvas, 20, 5), decoded(model2d, [[q[0], q[0]]])[0], atol=1e-5
    )  # bottom left
    path = plots.manifold(model2d, str(tmp_path / "manifold.png"), grid=5, low=0.1, high=0.8)
    upside_down = plots.tile(decoded(model2d, z * [1, -1]), columns=5)
    assert_png_shows(path, canvas, wrong=upside_down)


def test_interpolation_ends_are_the_inputs(tmp_path, model2d, images):
    a, b = images[0][0], images[0][1]
    x, z = plots.interpolation_latents(model2d, a, b, steps=6)
    means = model2d.encode(np.stack([a, b])).mean().numpy()
    np.testing.assert_allclose(z[[0, -1]], means, atol=1e-6)
    np.testing.assert_allclose(z[2], 0.6 * means[0] + 0.4 * means[1], atol=1e-6)
    canvas = plots.interpolation_canvas(model2d, a, b, steps=6)
    assert canvas.shape == (28, 8 * 29 - 1, 1)
    np.testing.assert_allclose(cell(canvas, 0, 8), a, atol=1e-6)
    np.testing.assert_allclose(cell(canvas, 7, 8), b, atol=1e-6)
    np.testing.assert_allclose(cell(canvas, 1, 8), decoded(model2d, means[:1])[0], atol=1e-5)
    np.testing.assert_allclose(cell(canvas, 6, 8), decoded(model2d, means[1:])[0], atol=1e-5)
    path = plots.interpolation(model2d, a, b, str(tmp_path / "interp.png"), steps=6)
    assert_png_shows(path, canvas, wrong=plots.interpolation_canvas(model2d, b, a, steps=6))


def test_traversal_row_sweeps_only_its_dimension(tmp_path, model2d, images):
    model = DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(16,), seed=0)
    image = images[0][0]
    base = model.encode(image[None]).mean().numpy()[0]
    for given, dims in (
        (None, [0, 1, 2, 3]),
        ([2, 0], [2, 0]),
    ):  # by default every dimension (up to 10), in order
        z = plots.traversal_latents(model, image, dims=given, span=2.0, steps=5)
        assert z.shape == (5 * len(dims), 4)
        for row, d in enumerate(dims):
            block = z[row * 5 : (row + 1) * 5]
            np.testing.assert_allclose(block[:, d], np.linspace(-2, 2, 5), atol=1e-6)
            others = [k for k in range(4) if k != d]
            np.testing.assert_allclose(block[:, others], np.repeat(base[None, others], 5, axis=0), atol=1e-6)
    canvas = plots.traversal_canvas(model2d, image, span=2.0, steps=5)
    z2 = plots.traversal_latents(model2d, image, span=2.0, steps=5)
    np.testing.assert_allclose(canvas, plots.tile(decoded(model2d, z2), columns=5), atol=1e-6)
    path = plots.traversals(model2d, image, str(tmp_path / "trav.png"), span=2.0, steps=5)
    rows_swapped = plots.traversal_canvas(model2d, image, dims=[1, 0], span=2.0, steps=5)
    assert_png_shows(path, canvas, wrong=rows_swapped)


def test_kl_bars_are_the_values_given(tmp_path):
    values = [0.5, 2.0, 0.01]
    fig = plots.kl_figure(values, threshold=0.1)
    ax = fig.axes[0]
    assert [bar.get_height() for bar in ax.patches] == pytest.approx(values)
    assert [bar.get_x() + bar.get_width() / 2 for bar in ax.patches] == pytest.approx([0, 1, 2])
    assert ax.lines[0].get_ydata()[0] == pytest.approx(0.1)
    assert ax.get_title() == "KL per dimension (total 2.51 nats)"
    assert png_size(plots.kl_per_dimension(values, str(tmp_path / "kl.png")))[0] > 100


def test_scatter_points_are_posterior_means(tmp_path, model2d, images):
    x, y = images
    ax = plots.scatter_figure(model2d, x, y).axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), model2d.encode(x).mean().numpy(), atol=1e-6)
    np.testing.assert_array_equal(ax.collections[0].get_array(), y)  # coloured by label
    path = plots.latent_scatter(
        model2d, x, y, str(tmp_path / "scatter.png"), class_names=[str(i) for i in range(10)]
    )
    assert png_size(path)[0] > 100


def test_scatter_projects_on_principal_axes(images):
    model = DenseVAE((28, 28, 1), latent_dim=5, hidden_units=(16,), seed=0)
    x, _ = images
    points, xlabel, _ = plots.scatter_points(model, x)
    covariance = np.cov(model.encode(x).mean().numpy(), rowvar=False)
    top = np.sort(np.linalg.eigvalsh(covariance))[::-1][:2]
    np.testing.assert_allclose(np.cov(points, rowvar=False), np.diag(top), rtol=1e-3, atol=1e-6 * top[0])
    assert xlabel == f"principal axis 1 ({top[0] / np.trace(covariance):.0%} of variance)"


def test_scatter_needs_one_label_per_image(tmp_path, model2d, images):
    x, y = images
    needs_labels = (
        "scatter plot colours points by class and needs labels, one per image; got labels=None for 200 images"
    )
    with pytest.raises(ValueError, match=needs_labels):
        plots.latent_scatter(model2d, x, None, str(tmp_path / "s.png"))
    with pytest.raises(
        ValueError, match=r"one label per image: 10 images but labels of shape \(9,\) \(9 labels\)"
    ):
        plots.latent_scatter(model2d, x[:10], y[:9], str(tmp_path / "s.png"))


def test_manifold_needs_two_latent_dimensions(tmp_path):
    model = DenseVAE((28, 28, 1), latent_dim=3, hidden_units=(8,), seed=0)
    with pytest.raises(
        ValueError, match="needs a 2-D latent space, this model has latent_dim=3; use kind 'traversal'"
    ):
        plots.manifold(model, str(tmp_path / "m.png"))


def test_bad_images_are_refused(tmp_path):
    with pytest.raises(
        ValueError, match=r"expected images of shape \(N, H, W, 1 or 3\), got \(4, 28, 28, 2\)"
    ):
        plots.image_grid(np.zeros((4, 28, 28, 2)), str(tmp_path / "x.png"))


def _plot(model_path, out, kind, *flags):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "vae_zoo.cli",
            "plot",
            str(model_path),
            "--kind",
            kind,
            "--out",
            str(out),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plot_command(tmp_path, model2d):
    model2d.save(tmp_path / "model.keras")
    flags = {
        "samples": ["--num", "16", "--seed", "3"],
        "manifold": [],
        "scatter": ["--num", "300"],
        "interpolation": ["--num", "5", "--index", "9999", "25"],
    }  # indices past --num and 20
    for kind, extra in flags.items():
        result = _plot(tmp_path / "model.keras", tmp_path / f"{kind}.png", kind, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert png_size(tmp_path / f"{kind}.png")[1] > 400  # width
    assert_png_shows(
        tmp_path / "samples.png",
        plots.samples_canvas(model2d, 16, seed=3),
        wrong=plots.samples_canvas(model2d, 16),
    )
    x, _ = datasets.load_arrays("fashion_mnist", split="test", binarize="static", seed=0, verbose=False)
    x = x[..., None]  # what the command loads (--binarize static --seed 0)
    chosen = plots.interpolation_canvas(model2d, x[9999], x[25])
    assert_png_shows(
        tmp_path / "interpolation.png", chosen, wrong=plots.interpolation_canvas(model2d, x[0], x[1])
    )


def test_plot_command_refuses_bad_indices_and_unlabelled_scatter(tmp_path, model2d, capsys):
    model2d.save(tmp_path / "model.keras")
    result = _plot(tmp_path / "model.keras", tmp_path / "i.png", "interpolation", "--index", "0", "10000")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert (
        "vae-zoo plot: error: --index 10000 is out of range: "
        "the test split of fashion_mnist has 10000 examples (valid 0..9999)"
    ) in result.stderr
    assert not (tmp_path / "i.png").exists()

    def plot(out, *flags):  # the same command in this process: cheaper than a subprocess
        code = cli.main(["plot", str(tmp_path / "model.keras"), "--out", str(tmp_path / out), *flags])
        return code, capsys.readouterr().err

    code, err = plot("t.png", "--kind", "traversal", "--index", "9998", "--num", "5")
    assert code == 0, err
    x, _ = datasets.load_arrays("fashion_mnist", split="test", binarize="static", seed=0, verbose=False)
    last, first = (plots.traversal_canvas(model2d, x[i][..., None]) for i in (9998, 0))
    assert_png_shows(tmp_path / "t.png", last, wrong=first)
    code, err = plot("n.png", "--kind", "traversal", "--index", "-1")
    assert code == 2 and not (tmp_path / "n.png").exists(), err
    assert (
        "--index -1 is out of range: the test split of fashion_mnist has 10000 examples (valid 0..9999)"
        in err
    )
    code, err = plot("n.png", "--kind", "interpolation", "--index")
    assert code == 2 and "--index needs an example index for kind 'interpolation', got none" in err, err
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, x_train=np.zeros((30, 28, 28), "uint8"), x_test=np.zeros((0, 28, 28), "uint8"))
    code, err = plot("n.png", "--kind", "traversal", "--dataset", str(unlabelled), "--index", "0")
    assert (
        code == 2
        and f"--index 0 is out of range: the test split of {unlabelled} has 0 examples (it is empty)" in err
    ), err
    np.savez(unlabelled, x_train=np.zeros((30, 28, 28), "uint8"), x_test=np.zeros((25, 28, 28), "uint8"))
    code, err = plot("s.png", "--kind", "scatter", "--dataset", str(unlabelled), "--num", "25")
    assert code == 2 and not (tmp_path / "s.png").exists(), err
    assert (
        "the scatter plot colours points by class and needs labels, "
        f"but the test split of {unlabelled} has none" in err
    )
