"""TensorFlow Serving deployment files and clients for vae-zoo SavedModels.

From a checkout this is the package ``serving``; the wheel installs it as
``vae_zoo.serving`` (``vae_zoo.serving.client``). Its modules import each
other relatively, so both names work:

* ``serving/client/`` -- REST (stdlib + numpy) and gRPC clients
  (``python -m serving.client --help``);
* ``serving/config_protos.py`` -- load/validate the two text-proto configs;
* ``serving/models.config``, ``serving/batching.config`` and
  ``serving/docker-compose.yml`` -- run the official ``tensorflow/serving``
  image on an exported model (see ``serving/README.md``).

Importing this package (or its ``client``) does not import TensorFlow.
"""
