"""Distribution layers: Keras 3 layers whose outputs are distribution parameters.

`tfp.layers` are Keras 2 (`tf_keras`) layers and cannot live in a Keras 3 model.
The layers here play their part: each is a small Keras 3 layer that maps a
network's features to a dict of parameter tensors (always float32, also under
mixed precision), and each has a `distribution(params)` method that turns those
tensors into a `tfp.distributions` object. Models call the layer inside their
graph and build the distribution where they need it, so distributions stay
first-class values while the layers stay plain, serializable Keras layers.

Three roles:

* **posteriors** `q(z|x)`: `DiagonalGaussianPosterior`,
  `FullCovarianceGaussianPosterior`; they map encoder features `[B, F]` to
  parameters and can reparameterize standard normal noise into `z`.
* **likelihoods** `p(x|z)`: `BernoulliLikelihood`, `GaussianLikelihood`,
  `DiscretizedLogisticLikelihood`, `CategoricalLikelihood`; they map raw
  decoder outputs of shape `[N, *event_shape, num_params]` to parameters.
* **priors** `p(z)`: `StandardNormalPrior`, `MixtureOfGaussiansPrior`,
  `VampPrior`; they hold their own (possibly learnable) parameters.

`TopDownGaussian` (`top_down.py`) is not a layer: the distribution over several stochastic layers
drawn top down that a hierarchical VAE's prior and posterior are (the model supplies its conditionals).

Example:

>>> import numpy as np
>>> head = DiagonalGaussianPosterior(latent_dim=2)
>>> params = head(np.zeros((3, 5), "float32"))
>>> sorted(params)
['loc', 'scale']
>>> q = head.distribution(params)
>>> q.batch_shape, q.event_shape
(TensorShape([3]), TensorShape([2]))

Names accepted by the models (`likelihood="bernoulli"`, `prior="vamp"`, ...)
are listed in `LIKELIHOODS`, `POSTERIORS` and `PRIORS`; a dict
`{"name": ..., **kwargs}`, a serialized layer config or a layer instance work too.
"""

from vae_zoo.distributions.base import DistributionHead
from vae_zoo.distributions.likelihoods import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    DiscretizedLogisticLikelihood,
    GaussianLikelihood,
    LikelihoodHead,
)
from vae_zoo.distributions.posteriors import (
    DiagonalGaussianPosterior,
    FullCovarianceGaussianPosterior,
    PosteriorHead,
)
from vae_zoo.distributions.priors import MixtureOfGaussiansPrior, PriorHead, StandardNormalPrior, VampPrior
from vae_zoo.distributions.registry import (
    LIKELIHOODS,
    POSTERIORS,
    PRIORS,
    get_likelihood,
    get_posterior,
    get_prior,
)
from vae_zoo.distributions.tfp_extensions import DiagonalGaussianMixture, DiscretizedLogistic, tempered_sample
from vae_zoo.distributions.top_down import TopDownGaussian

__all__ = [
    "BernoulliLikelihood",
    "CategoricalLikelihood",
    "DiagonalGaussianMixture",
    "DiagonalGaussianPosterior",
    "DiscretizedLogistic",
    "DiscretizedLogisticLikelihood",
    "DistributionHead",
    "FullCovarianceGaussianPosterior",
    "GaussianLikelihood",
    "LIKELIHOODS",
    "LikelihoodHead",
    "MixtureOfGaussiansPrior",
    "POSTERIORS",
    "PRIORS",
    "PosteriorHead",
    "PriorHead",
    "StandardNormalPrior",
    "TopDownGaussian",
    "VampPrior",
    "get_likelihood",
    "get_posterior",
    "get_prior",
    "tempered_sample",
]
