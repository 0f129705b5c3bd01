"""ConvVAE: the shared family checks, input sizes."""

import pytest
from image_testing import unit_images

from vae_zoo.models import ConvVAE
from family_testing import run_family_test

SMALL = dict(hidden_units=(64,), seed=0)


@pytest.mark.parametrize(
    "shape, filters", [((28, 28, 1), (32, 64)), ((32, 32, 3), (32, 64)), ((64, 64, 3), (32, 32, 64, 64))]
)
def test_conv_shapes(shape, filters):
    model = ConvVAE(shape, latent_dim=4, filters=filters, hidden_units=32, seed=0)
    x = unit_images(2, shape)
    assert model.reconstruct(x).shape == (2, *shape)
    assert model.sample(3, seed=0).shape == (3, *shape)
    assert model.encode(x).event_shape == [4]


def test_conv_rejects_sizes_it_cannot_invert():
    with pytest.raises(ValueError, match="divisible by 4, got input_shape \\(30, 30, 1\\)"):
        ConvVAE((30, 30, 1), latent_dim=2)


def test_conv_family(tmp_path, fashion_train):
    kwargs = dict(input_shape=(28, 28, 1), latent_dim=3, filters=(4, 8), hidden_units=16, seed=0)
    run_family_test(ConvVAE, kwargs, fashion_train[:8], tmp_path)
