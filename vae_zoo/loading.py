"""Loading a model from what a user points at: a `.keras` file, a run directory or a preset name."""

import os


def load_model(path):
    """A vae-zoo model from a `.keras` file, a run directory holding `model.keras`, or a preset name.

    Raises:
        FileNotFoundError: naming what was looked for.
    """
    import keras

    import vae_zoo.models  # noqa: F401  (registers the model classes)
    from vae_zoo import presets

    if not os.path.exists(path) and path in presets.registry():
        return presets.load(path)
    candidate = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.isfile(candidate):
        raise FileNotFoundError(
            f"no model at {path!r}: expected a .keras file, a run directory with model.keras, "
            f"or a preset name ({', '.join(sorted(presets.registry()))})"
        )
    return keras.models.load_model(candidate)
