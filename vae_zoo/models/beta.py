"""`BetaVAE`: the beta-weighted and the capacity-controlled objectives."""

import keras
import tensorflow as tf

from vae_zoo.models.conv import CONV_ARGUMENTS, ConvVAE
from vae_zoo.models.registry import FamilyArgument, register_family
from vae_zoo.utils.distribute import global_batch_mean


@register_family("beta")
@keras.saving.register_keras_serializable(package="vae_zoo")
class BetaVAE(ConvVAE):
    """A convolutional beta-VAE (Higgins et al. 2017; Burgess et al. 2018).

    Two objectives:

    * `capacity=None`: `reconstruction + beta * KL` (beta > 1 pushes towards
      disentangled, factorized codes).
    * `capacity=C_max` (nats): `reconstruction + gamma * |KL - C(t)|` where
      `C(t) = C_max * min(1, t / capacity_steps)` rises linearly with the
      optimizer's step count `t`. The step count is saved with the optimizer,
      so the schedule continues where it stopped after save/resume. KL is the
      mean over the global batch, as in the paper.

    For a dense beta-VAE use `DenseVAE(..., beta=4.0)`.

    Args:
        beta: KL weight of the beta objective (default 4).
        capacity: `C_max` in nats, or None for the beta objective.
        gamma: weight of `|KL - C|` in the capacity objective.
        capacity_steps: optimizer steps over which C rises from 0 to `C_max`.
        **kwargs: `ConvVAE` and `VAE` arguments.

    Example:

    >>> import vae_zoo
    >>> model = vae_zoo.models.BetaVAE((28, 28, 1), latent_dim=10, capacity=25.0,
    ...                                capacity_steps=1000, seed=0)
    >>> float(model.capacity_at(500))
    12.5
    """

    arguments = {
        **CONV_ARGUMENTS,
        "capacity": FamilyArgument(float, "C_max in nats: train gamma * |KL - C| with C rising to C_max"),
        "gamma": FamilyArgument(float, "weight of |KL - C| in the capacity objective (default 1000)"),
        "capacity_steps": FamilyArgument(int, "optimizer steps over which C rises to C_max"),
    }

    def __init__(
        self, input_shape, latent_dim, beta=4.0, capacity=None, gamma=1000.0, capacity_steps=100_000, **kwargs
    ):
        if capacity is not None and kwargs.get("objective", "elbo") != "elbo":
            raise ValueError(
                f"capacity={capacity!r} is a target for the ELBO's KL term; "
                f"objective={kwargs['objective']!r} "
                "has no KL term. Use objective='elbo' or capacity=None"
            )
        if capacity is not None and capacity < 0:
            raise ValueError(f"capacity must be >= 0 nats or None, got {capacity!r}")
        if int(capacity_steps) < 1:
            raise ValueError(f"capacity_steps must be >= 1, got {capacity_steps!r}")
        self.capacity = None if capacity is None else float(capacity)
        self.gamma = float(gamma)
        self.capacity_steps = int(capacity_steps)
        super().__init__(input_shape, latent_dim, beta=beta, **kwargs)

    @property
    def uses_kl_weight(self):
        # The capacity objective weights |KL - C| by gamma; beta is not used.
        return self.capacity is None and super().uses_kl_weight

    @classmethod
    def check_training_config(cls, config):
        if config["kl_annealing"] and config["model_kwargs"].get("capacity") is not None:
            raise ValueError(
                "kl_annealing drives beta, but the capacity objective (capacity "
                f"{config['model_kwargs']['capacity']!r}) weights |KL - C| by gamma; drop one of them"
            )

    @property
    def objective_description(self):
        if self.capacity is None:
            return super().objective_description
        return f"the capacity objective (capacity={self.capacity!r}, weighted by gamma)"

    def capacity_at(self, step):
        """C(step) in nats."""
        fraction = tf.minimum(1.0, tf.cast(step, tf.float32) / float(self.capacity_steps))
        return self.capacity * fraction

    def current_capacity(self):
        """C at the optimizer's current step (0 before `compile`)."""
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else 0
        return self.capacity_at(step)

    def kl_penalty(self, kl, kl_per_dim, weight=None):
        if self.capacity is None:
            return super().kl_penalty(kl, kl_per_dim, weight)
        capacity = self.current_capacity()
        # Per-example form of gamma * |mean(KL) - C|: same value and gradient on the batch mean.
        sign = tf.sign(global_batch_mean(kl) - capacity)
        return self.gamma * sign * (kl - capacity)

    def get_config(self):
        config = super().get_config()
        config.update(capacity=self.capacity, gamma=self.gamma, capacity_steps=self.capacity_steps)
        return config
