"""Loading a model from what a user points at: a `.keras` file or a run directory."""

import os


def load_model(path):
    """A vae-zoo model from a `.keras` file or a run directory holding `model.keras`.

    Raises:
        FileNotFoundError: naming what was looked for.
    """
    import keras

    import vae_zoo.models  # noqa: F401  (registers the model classes)

    candidate = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.isfile(candidate):
        raise FileNotFoundError(f"no model at {path!r}: expected a .keras file or a run directory with model.keras")
    return keras.models.load_model(candidate)
