"""Shared by the export tests: the preamble of a process in which vae_zoo and TFP cannot be imported."""

# The start of a script run in a fresh interpreter: `import vae_zoo` and `import tensorflow_probability`
# fail there (checked), as on a TF Serving host that has only TensorFlow.
BLOCKED_PREAMBLE = r"""
import importlib.abc, json, sys
import numpy as np

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("vae_zoo", "tensorflow_probability"):
            raise ImportError(f"{name} is blocked in this process")
        return None

sys.meta_path.insert(0, Blocker())
try:
    import vae_zoo  # noqa
    raise SystemExit("the blocker did not work")
except ImportError:
    pass
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
"""
