"""Training: strategies, callbacks, backups, configs and the `vae-zoo train` run (as `vae_zoo.training`).

Model code knows nothing of this package; this package knows models only
through the `VAE` contract (`fit`, `beta`, `sample`, `reconstruct`).
"""
