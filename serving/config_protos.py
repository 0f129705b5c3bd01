"""Load and check the TF Serving text-proto configs in ``serving/``.

``tensorflow_model_server`` reads two text protos here:

* ``--model_config_file``       -> ``tensorflow.serving.ModelServerConfig``
* ``--batching_parameters_file`` -> ``tensorflow.serving.BatchingParameters``

``ModelServerConfig`` ships with the ``tensorflow-serving-api`` wheel
(``tensorflow_serving.config.model_server_config_pb2``).

``BatchingParameters`` does **not**: upstream it lives in
``tensorflow_serving/servables/tensorflow/session_bundle_config.proto``, and
the pip wheel (checked on 2.21.0) ships only ``tensorflow_serving.apis`` and
``tensorflow_serving.config``, so ``tensorflow_serving.servables`` cannot be
imported. :func:`batching_parameters_class` uses the real generated class if
it can be imported and otherwise builds the message from a transcription of
the upstream definition (same package, message name, field names, numbers and
types, including the ``google.protobuf.*Value`` wrappers that make the text
format ``max_batch_size { value: 32 }``). It is built in a private descriptor
pool so it can never clash with a real ``session_bundle_config_pb2`` import.

The transcription covers the long-standing fields 1-7 only. Newer servers
accept more (e.g. ``enable_large_batch_splitting``); parsing a file that uses
them with the fallback class fails loudly rather than silently.

Example::

    >>> from serving.config_protos import load_batching_parameters
    >>> params = load_batching_parameters()  # serving/batching.config
    >>> params.max_batch_size.value
    64
    >>> params.allowed_batch_sizes[-1] == params.max_batch_size.value
    True
    >>> check_batching_parameters(params)
    []

Importing this module does not import TensorFlow; loading
``ModelServerConfig`` does (its generated module imports TF's protos).
"""

from __future__ import annotations

import functools
import os
from typing import Any

SERVING_DIR = os.path.dirname(os.path.abspath(__file__))
MODELS_CONFIG = os.path.join(SERVING_DIR, "models.config")
BATCHING_CONFIG = os.path.join(SERVING_DIR, "batching.config")

#: Upstream proto that defines BatchingParameters (not in the pip wheel).
UPSTREAM_BATCHING_PROTO = "tensorflow_serving/servables/tensorflow/session_bundle_config.proto"

# (name, number, label, type, type_name) transcribed from upstream
# session_bundle_config.proto, message tensorflow.serving.BatchingParameters.
_BATCHING_FIELDS = (
    ("max_batch_size", 1, "optional", "message", ".google.protobuf.Int64Value"),
    ("batch_timeout_micros", 2, "optional", "message", ".google.protobuf.Int64Value"),
    ("max_enqueued_batches", 3, "optional", "message", ".google.protobuf.Int64Value"),
    ("num_batch_threads", 4, "optional", "message", ".google.protobuf.Int64Value"),
    ("thread_pool_name", 5, "optional", "message", ".google.protobuf.StringValue"),
    ("allowed_batch_sizes", 6, "repeated", "int64", None),
    ("pad_variable_length_inputs", 7, "optional", "bool", None),
)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def model_server_config_class():
    """Return ``tensorflow_serving.config.model_server_config_pb2.ModelServerConfig``."""
    from tensorflow_serving.config import model_server_config_pb2

    return model_server_config_pb2.ModelServerConfig


def load_model_server_config(path: str = MODELS_CONFIG):
    """Parse a ``--model_config_file`` text proto into a ``ModelServerConfig``.

    Raises ``google.protobuf.text_format.ParseError`` on a malformed file.
    """
    from google.protobuf import text_format

    return text_format.Parse(_read(path), model_server_config_class()())


@functools.lru_cache(maxsize=None)
def _vendored_batching_parameters_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)

    fdp = descriptor_pb2.FileDescriptorProto(
        name="vae_zoo_vendored/" + UPSTREAM_BATCHING_PROTO,
        package="tensorflow.serving",
        syntax="proto3",
        dependency=[wrappers.name],
    )
    msg = fdp.message_type.add(name="BatchingParameters")
    FD = descriptor_pb2.FieldDescriptorProto
    labels = {"optional": FD.LABEL_OPTIONAL, "repeated": FD.LABEL_REPEATED}
    types = {"message": FD.TYPE_MESSAGE, "int64": FD.TYPE_INT64, "bool": FD.TYPE_BOOL}
    for name, number, label, ftype, type_name in _BATCHING_FIELDS:
        field = msg.field.add(name=name, number=number, label=labels[label], type=types[ftype])
        if type_name:
            field.type_name = type_name
    pool.Add(fdp)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    return message_factory.GetMessageClass(descriptor)


def batching_parameters_class(prefer_upstream: bool = True):
    """Return a ``tensorflow.serving.BatchingParameters`` message class.

    The generated upstream class if importable (it is not in the
    ``tensorflow-serving-api`` wheel), else the transcribed fallback.
    """
    if prefer_upstream:
        try:
            from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2
        except ImportError:
            pass
        else:
            return session_bundle_config_pb2.BatchingParameters
    return _vendored_batching_parameters_class()


def upstream_batching_parameters_available() -> bool:
    """True if ``tensorflow_serving.servables.tensorflow.session_bundle_config_pb2`` imports."""
    try:
        from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2  # noqa: F401
    except ImportError:
        return False
    return True


def load_batching_parameters(path: str = BATCHING_CONFIG, prefer_upstream: bool = True):
    """Parse a ``--batching_parameters_file`` text proto into ``BatchingParameters``."""
    from google.protobuf import text_format

    return text_format.Parse(_read(path), batching_parameters_class(prefer_upstream)())


def check_batching_parameters(params: Any) -> list[str]:
    """Return the problems TF Serving would reject or that defeat batching (empty = OK).

    Mirrors the checks in TF Serving's ``batching_session.cc`` for
    ``allowed_batch_sizes`` (strictly increasing, last entry equals
    ``max_batch_size``) plus basic positivity checks.
    """
    problems = []
    for name in ("max_batch_size", "num_batch_threads", "max_enqueued_batches"):
        if params.HasField(name) and getattr(params, name).value < 1:
            problems.append(f"{name} must be >= 1")
    if params.HasField("batch_timeout_micros") and params.batch_timeout_micros.value < 0:
        problems.append("batch_timeout_micros must be >= 0")
    sizes = list(params.allowed_batch_sizes)
    if sizes:
        if any(b <= a for a, b in zip(sizes, sizes[1:])):
            problems.append("allowed_batch_sizes must be strictly increasing")
        if sizes[0] < 1:
            problems.append("allowed_batch_sizes entries must be >= 1")
        if not params.HasField("max_batch_size") or sizes[-1] != params.max_batch_size.value:
            problems.append("the last allowed_batch_sizes entry must equal max_batch_size")
    return problems
