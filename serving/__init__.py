"""TensorFlow Serving deployment files and clients for vae-zoo SavedModels.

This directory is *not* part of the ``vae_zoo`` wheel; it is used from a
checkout of the repository:

* ``serving/client.py`` -- REST (stdlib + numpy) and gRPC clients
  (``python -m serving.client --help``);
* ``serving/config_protos.py`` -- load/validate the two text-proto configs;
* ``serving/models.config``, ``serving/batching.config`` and
  ``serving/docker-compose.yml`` -- run the official ``tensorflow/serving``
  image on an exported model (see ``serving/README.md``).

Importing this package (or :mod:`serving.client`) does not import TensorFlow.
"""
