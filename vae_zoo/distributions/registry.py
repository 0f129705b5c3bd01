"""Names accepted by the models: `LIKELIHOODS`, `POSTERIORS`, `PRIORS` and the `get_*` resolvers."""

import keras

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

LIKELIHOODS = {
    "bernoulli": (BernoulliLikelihood, {}),
    "gaussian": (GaussianLikelihood, {"scale": "global"}),
    "gaussian_fixed": (GaussianLikelihood, {"scale": "fixed"}),
    "gaussian_global": (GaussianLikelihood, {"scale": "global"}),
    "gaussian_per_dimension": (GaussianLikelihood, {"scale": "per_dimension"}),
    "discretized_logistic": (DiscretizedLogisticLikelihood, {}),
    "categorical": (CategoricalLikelihood, {}),
}
POSTERIORS = {
    "diagonal": (DiagonalGaussianPosterior, {}),
    # BN-VAE's default gamma for text (Zhu et al. 2020 use 0.5-0.7): KL >= latent_dim * 0.18 nats.
    "diagonal_batch_norm": (DiagonalGaussianPosterior, {"batch_norm_scale": 0.6}),
    "full": (FullCovarianceGaussianPosterior, {}),
    "full_covariance": (FullCovarianceGaussianPosterior, {}),
}
PRIORS = {
    "normal": (StandardNormalPrior, {}),
    "mixture": (MixtureOfGaussiansPrior, {}),
    "vamp": (VampPrior, {}),
}


def _resolve(spec, table, base, role, **required):
    if isinstance(spec, base):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        layer = keras.saving.deserialize_keras_object(spec)
        if not isinstance(layer, base):
            raise ValueError(f"{role} config must describe a {base.__name__}, got {type(layer).__name__}")
        return layer
    kwargs = {}
    if isinstance(spec, dict):
        kwargs = dict(spec)
        spec = kwargs.pop("name", None)
    if not isinstance(spec, str) or spec not in table:
        raise ValueError(f"Unknown {role} {spec!r}. Valid {role} names: {', '.join(sorted(table))}.")
    cls, defaults = table[spec]
    return cls(**{**defaults, **required, **kwargs})


def get_likelihood(spec, **required):
    """A likelihood head from a name in `LIKELIHOODS`, a `{"name": ...}` dict, a config or a layer."""
    return _resolve(spec, LIKELIHOODS, LikelihoodHead, "likelihood", **required)


def get_posterior(spec, latent_dim):
    """A posterior head from a name in `POSTERIORS`, a dict, a config or a layer."""
    head = _resolve(spec, POSTERIORS, PosteriorHead, "posterior", latent_dim=latent_dim)
    if head.latent_dim != latent_dim:
        raise ValueError(f"posterior latent_dim={head.latent_dim} does not match the model's {latent_dim}")
    return head


def get_prior(spec, latent_dim, input_shape):
    """A prior head from a name in `PRIORS`, a dict, a config or a layer."""
    required = {"latent_dim": latent_dim}
    name = spec.get("name") if isinstance(spec, dict) else spec
    if name == "vamp":
        required["pseudo_input_shape"] = input_shape
    head = _resolve(spec, PRIORS, PriorHead, "prior", **required)
    if head.latent_dim != latent_dim:
        raise ValueError(f"prior latent_dim={head.latent_dim} does not match the model's {latent_dim}")
    return head
