"""Keras's private names live in vae_zoo/utils/keras_compat.py alone, checked at import, with Keras pinned."""

import os
import re

import keras
import pytest

from vae_zoo.utils import keras_compat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = ("vae_zoo", "training", "export", "serving", "benchmarks")
PRIVATE = [name for _, name, *_ in keras_compat.METHODS + keras_compat.ATTRIBUTES]
PRIVATE += [keras_compat.SAVE_SIGNATURE[0], keras_compat.MULTI_WORKER[0]]


def _sources():
    for top in SOURCES:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(folder, name)


def test_no_private_keras_name_outside_the_compat_module():
    compat = os.path.abspath(keras_compat.__file__)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, PRIVATE)) + r")\b|\bkeras\.src\b")
    found = []
    for path in _sources():
        if os.path.abspath(path) == compat:
            continue
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            if pattern.search(line):
                found.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert not found, "private Keras names outside vae_zoo/utils/keras_compat.py:\n" + "\n".join(found)


def test_the_check_passes_here_and_names_the_version_and_the_name_when_keras_changes(monkeypatch):
    keras_compat.check()

    def renamed(self, gradients, extra):  # another signature, as a future Keras might have
        return gradients

    monkeypatch.setattr(keras.optimizers.Optimizer, "_clip_gradients", renamed)
    with pytest.raises(
        keras_compat.KerasCompatibilityError, match=rf"_clip_gradients.*Keras {re.escape(keras.__version__)}"
    ):
        keras_compat.check()
    monkeypatch.undo()
    monkeypatch.setattr(
        keras_compat, "ATTRIBUTES", keras_compat.ATTRIBUTES + ((keras.Model, "_gone", "a test"),)
    )
    with pytest.raises(keras_compat.KerasCompatibilityError, match=r"Model\(\)\._gone .*does not set"):
        keras_compat.check()


def test_keras_is_pinned_to_the_checked_range():
    pyproject = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    assert f'"keras{keras_compat.KERAS_VERSIONS}"' in pyproject
    low, high = re.match(r">=([\d.]+),<([\d.]+)", keras_compat.KERAS_VERSIONS).groups()
    version = tuple(int(part) for part in keras.__version__.split(".")[:2])
    assert tuple(map(int, low.split("."))) <= version < tuple(map(int, high.split(".")))
