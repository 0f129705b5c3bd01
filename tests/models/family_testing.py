"""The checks every model family passes, in the spirit of keras-hub's `run_backbone_test`.

A family's test calls `run_family_test(cls, init_kwargs, input_data, tmp_path)`:
it builds the model, trains one SGD step, round-trips it through `.keras`,
checks its seeds, exports it as a SavedModel and runs every signature, and
checks that an unknown preset is refused.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import vae_zoo
from vae_zoo.models import FAMILIES, VAE


def _plain(config):
    return json.loads(json.dumps(config))  # tuples and lists alike


def _signature_inputs(signature, input_data, prepared, latent_dim):
    """Inputs for one exported signature, by input name (x / sentences / z / seed / ...)."""
    _, specs = signature.structured_input_signature
    rows = len(input_data)
    values = {}
    for name, spec in specs.items():
        if name in ("x", "sentences"):
            values[name] = (
                tf.constant(input_data) if spec.dtype == tf.string else tf.cast(prepared, spec.dtype)
            )
        elif name == "z":
            values[name] = tf.random.stateless_normal([rows, latent_dim], [0, 1])
        elif name == "seed":
            shape = [d if d is not None else rows for d in spec.shape.as_list()]
            values[name] = tf.reshape(tf.range(1, 1 + int(np.prod(shape)), dtype=spec.dtype), shape)
        elif name == "num_samples":
            values[name] = tf.fill(
                [d if d is not None else rows for d in spec.shape.as_list()], tf.constant(2, spec.dtype)
            )
        elif name == "temperature":
            values[name] = tf.fill(
                [d if d is not None else rows for d in spec.shape.as_list()], tf.constant(1.0, spec.dtype)
            )
        else:
            raise AssertionError(f"no test input for signature input {name!r}")
    return values


def run_family_test(cls, init_kwargs, input_data, tmp_path, export=True):
    """Builds `cls(**init_kwargs)`, fits a step on `input_data`, and checks saving, seeds, export, presets.

    `input_data` is what `fit` and `encode` take (images, token ids or sentences), a few rows.
    Returns the trained model.
    """
    # --- build: a registered, fully built VAE
    model = cls(**init_kwargs)
    assert isinstance(model, VAE) and model.built
    assert FAMILIES[cls.family_name] is cls
    q = model.encode(input_data)
    assert q.batch_shape == [len(input_data)] and q.event_shape == [model.latent_dim]
    # --- one SGD step moves the weights and reports the four metrics
    model.compile(optimizer=keras.optimizers.SGD(1e-2), steps_per_execution=1)
    before = [w.copy() for w in model.get_weights()]
    prepared = model.prepare_inputs(input_data).numpy()
    logs = model.fit(prepared, batch_size=len(prepared), epochs=1, verbose=0).history
    assert sorted(logs) == ["elbo", "kl", "loss", "reconstruction"] and np.isfinite(logs["loss"][0])
    assert max(float(np.abs(a - b).max()) for a, b in zip(before, model.get_weights())) > 0
    # --- .keras round trip: same class, same numbers, optimizer state kept
    path = str(tmp_path / f"{cls.family_name}.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is cls and _plain(restored.get_config()) == _plain(model.get_config())
    np.testing.assert_array_equal(
        restored.encode(input_data).mean().numpy(), model.encode(input_data).mean().numpy()
    )
    np.testing.assert_array_equal(
        restored.elbo(input_data, seed=3).numpy(), model.elbo(input_data, seed=3).numpy()
    )
    assert int(restored.optimizer.iterations.numpy()) == 1
    # --- seeds: the same seed gives the same draw, another seed another one
    first = model.sample_latents(3, seed=4).numpy()
    np.testing.assert_array_equal(first, model.sample_latents(3, seed=4).numpy())
    assert not np.array_equal(first, model.sample_latents(3, seed=5).numpy())
    # --- export: every signature runs from the SavedModel
    if export:
        directory = vae_zoo.export_saved_model(
            model, str(tmp_path / f"{cls.family_name}_export"), warmup=False
        )
        loaded = tf.saved_model.load(directory)
        assert {"encode", "decode", "sample", "reconstruct", "serving_default"} <= set(loaded.signatures)
        for name, signature in loaded.signatures.items():
            outputs = signature(**_signature_inputs(signature, input_data, prepared, model.latent_dim))
            assert outputs and all(
                np.all(np.isfinite(v.numpy())) for v in outputs.values() if v.dtype.is_floating
            ), name
    # --- an unknown preset is refused
    with pytest.raises(ValueError, match="Unknown preset 'no_such_preset'. Known presets: "):
        cls.from_preset("no_such_preset")
    return model
