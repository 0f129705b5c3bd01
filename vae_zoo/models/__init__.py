"""vae-zoo model families. Every model is a `keras.Model` built on `VAE`.

Each family registers itself (`vae_zoo.models.registry`): importing this
package registers the built-in ones, in this order, and then any other family
module in the package, so a new family is one new file here.
"""

import importlib
import pkgutil

from vae_zoo.models.dense import DenseVAE
from vae_zoo.models.conv import ConvVAE
from vae_zoo.models.beta import BetaVAE
from vae_zoo.models.sequence import SequenceVAE
from vae_zoo.models.hierarchical import HierarchicalVAE
from vae_zoo.models.registry import FAMILIES, get_family, register_family
from vae_zoo.models.vae import VAE

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "VAE",
    "DenseVAE",
    "ConvVAE",
    "BetaVAE",
    "SequenceVAE",
    "HierarchicalVAE",
    "FAMILIES",
    "get_family",
    "register_family",
]
