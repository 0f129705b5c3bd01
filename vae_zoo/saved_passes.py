"""Saved importance-weighted passes: what `evaluation.log_likelihood(..., resume_dir=)` keeps on disk.

An IW-5000 pass over a test split can outlast a working session and resume on another machine. Each
pass is two files in the resume folder, named by a digest of everything the estimates depend on:

* `log_likelihood-DIGEST.npy`: float32 log p(x) of the examples estimated so far, in the order the
  pass runs them (4 bytes an example);
* `log_likelihood-DIGEST.json`: `{"examples", "seconds"}`, the examples saved and the seconds that
  every session that worked on the pass spent on it, so that a measurement resumed across sessions
  can state what it cost in all (`EarlierSeconds`). A pass saved before this file existed counts 0.

Both are replaced atomically after every batch. `estimator_sources` names the code the digest covers.
"""

import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import sys
from time import monotonic

import numpy as np

#: The modules whose code an importance-weighted estimate runs: the estimator and the models' code.
_ESTIMATOR_PACKAGES = ("vae_zoo.models", "vae_zoo.distributions", "vae_zoo.evaluation")


class EarlierSeconds:
    """What the saved parts of resumed passes had cost before this call: `seconds`, summed over passes.

    Pass one to `log_likelihood(..., earlier_seconds=)` (or to the measurements that call it); a
    measurement's `evaluation_seconds` is then its own wall clock plus `seconds`."""

    def __init__(self):
        self.seconds = 0.0

    def add(self, seconds):
        self.seconds += float(seconds)


class SavedPass:
    """The per-example estimates of one `log_likelihood` call saved so far (nothing without a folder).

    `load()` returns `(estimates, seconds)`; `save(estimates)` writes them with the seconds of the
    saved part plus this session's since `load()`."""

    def __init__(self, folder, model, x, settings):
        self.path = None
        self._earlier, self._started = 0.0, None
        if folder:
            digest = hashlib.sha256(repr((type(model).__name__, x.shape, str(x.dtype), settings)).encode())
            digest.update(_code_digest(estimator_sources(model)).encode())
            for weight in model.get_weights():
                digest.update(np.ascontiguousarray(weight).tobytes())
            digest.update(np.ascontiguousarray(x).tobytes())
            self.path = os.path.join(folder, f"log_likelihood-{digest.hexdigest()[:24]}.npy")

    @property
    def record_path(self):
        return None if self.path is None else self.path[: -len(".npy")] + ".json"

    def load(self):
        self._started = monotonic()
        if self.path is None or not os.path.exists(self.path):
            return np.zeros((0,), np.float32), 0.0
        estimates = np.load(self.path)
        self._earlier = 0.0
        if os.path.exists(self.record_path):
            with open(self.record_path) as f:
                self._earlier = float(json.load(f)["seconds"])
        return estimates, self._earlier

    def save(self, estimates):
        if self.path is None:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        seconds = round(self._earlier + monotonic() - self._started, 1)
        partial = self.path + ".partial.npy"
        np.save(partial, estimates)
        os.replace(partial, self.path)  # never a half-written file under the real name
        with open(self.record_path + ".partial", "w") as f:
            json.dump({"examples": int(len(estimates)), "seconds": seconds}, f)
        os.replace(self.record_path + ".partial", self.record_path)


def estimator_sources(model):
    """The source files an importance-weighted estimate of `model` runs, as a sorted tuple of paths.

    The modules of the model's classes and of the classes of its attributes (heads, priors, layers),
    `vae_zoo.evaluation`, and every module of `vae_zoo.models` and `vae_zoo.distributions` that those
    refer to, transitively; a class defined outside vae_zoo (a user's subclass) adds its own file.
    Another family's modules are not among them, so editing one family keeps the saved passes of the
    others."""
    objects = [model, *vars(model).values(), *getattr(model, "layers", ())]
    todo = ["vae_zoo.evaluation", *(cls.__module__ for obj in objects for cls in type(obj).__mro__)]
    files, seen = set(), set()
    for cls in type(model).__mro__:  # a subclass defined outside vae_zoo and the libraries
        module = sys.modules.get(cls.__module__)
        if getattr(module, "__file__", None) and not cls.__module__.startswith(
            ("vae_zoo", "keras", "tensorflow")
        ):
            files.add(os.path.abspath(module.__file__))
    while todo:
        name = todo.pop()
        if name in seen or not name.startswith(_ESTIMATOR_PACKAGES):
            continue
        seen.add(name)
        module = sys.modules[name]
        files.add(os.path.abspath(module.__file__))
        for value in vars(module).values():
            used = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
            if isinstance(used, str):
                todo.append(used)
    return tuple(sorted(files))


@functools.lru_cache(maxsize=None)
def _code_digest(files):
    """SHA-256 of `files`' bytes (in order) and of the TensorFlow, Keras and TFP versions."""
    digest = hashlib.sha256()
    for package in ("tensorflow", "keras", "tensorflow-probability"):
        try:
            digest.update(f"{package}=={importlib.metadata.version(package)};".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{package} missing;".encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()
