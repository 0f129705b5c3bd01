"""Training: strategies, callbacks, configs and the `vae-zoo train` run (installed as `vae_zoo.training`).

Model code knows nothing of this package; this package knows models only
through the `VAE` contract (`fit`, `beta`, `sample`, `reconstruct`).
"""
