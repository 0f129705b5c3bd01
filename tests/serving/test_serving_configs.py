"""Tests for the TF Serving configs in serving/: models.config, batching.config, docker-compose.yml.

Offline: the configs are parsed with the ``tensorflow-serving-api`` protos
(or the fallback schema in ``serving/config_protos.py``); no server is needed.
"""

from __future__ import annotations

import doctest
import os
import re
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import config_protos as cp  # noqa: E402

SERVING_DIR = os.path.join(REPO_ROOT, "serving")
COMPOSE_FILE = os.path.join(SERVING_DIR, "docker-compose.yml")


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------


class TestModelsConfig:
    def test_parses_as_model_server_config(self):
        from tensorflow_serving.config import model_server_config_pb2

        config = cp.load_model_server_config(os.path.join(SERVING_DIR, "models.config"))
        assert isinstance(config, model_server_config_pb2.ModelServerConfig)
        assert config.WhichOneof("config") == "model_config_list"
        (model,) = config.model_config_list.config
        assert model.name == "vae"
        assert model.base_path == "/models/vae"
        assert model.model_platform == "tensorflow"
        policy = model.model_version_policy
        assert policy.WhichOneof("policy_choice") == "latest"
        assert policy.latest.num_versions == 2

    def test_text_format_round_trip(self):
        from google.protobuf import text_format

        config = cp.load_model_server_config()
        again = text_format.Parse(text_format.MessageToString(config), type(config)())
        assert again == config


class TestBatchingConfig:
    def test_parses_as_batching_parameters(self):
        params = cp.load_batching_parameters(os.path.join(SERVING_DIR, "batching.config"))
        assert params.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
        for field in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            assert params.HasField(field), field
        assert params.max_batch_size.value == 64
        assert 0 <= params.batch_timeout_micros.value <= 10_000  # <= 10 ms on CPU
        assert params.num_batch_threads.value == 2  # 2-core box
        assert params.max_enqueued_batches.value >= params.num_batch_threads.value
        assert not params.pad_variable_length_inputs  # every input has a fixed shape but for dimension 0
        assert cp.check_batching_parameters(params) == []

    def test_allowed_batch_sizes_end_at_max_batch_size(self):
        params = cp.load_batching_parameters()
        sizes = list(params.allowed_batch_sizes)
        assert sizes[0] == 1  # a lone request is never padded
        assert sizes == sorted(set(sizes)) and sizes[-1] == params.max_batch_size.value
        # padding adds at most 7 rows, and at most doubles a batch
        assert all(b - a <= 8 and b <= 2 * a for a, b in zip(sizes, sizes[1:]))

    def test_warmup_uses_the_largest_allowed_batch_size(self):
        """export/warmup.py sends a request of the largest allowed size; more rows than max_batch_size would
        fail the load."""
        from vae_zoo.export import warmup

        params = cp.load_batching_parameters()
        largest = params.allowed_batch_sizes[-1]
        assert warmup.LARGEST_ALLOWED_BATCH_SIZE == largest == params.max_batch_size.value
        assert warmup.largest_allowed_batch_size() == largest
        assert warmup.warmup_batch_sizes() == (1, largest)

    def test_fallback_schema_matches_upstream_definition(self):
        cls = cp.batching_parameters_class(prefer_upstream=False)
        fields = {f.name: f for f in cls.DESCRIPTOR.fields}
        expected = {
            "max_batch_size": (1, "google.protobuf.Int64Value"),
            "batch_timeout_micros": (2, "google.protobuf.Int64Value"),
            "max_enqueued_batches": (3, "google.protobuf.Int64Value"),
            "num_batch_threads": (4, "google.protobuf.Int64Value"),
            "thread_pool_name": (5, "google.protobuf.StringValue"),
        }
        for name, (number, wrapper) in expected.items():
            assert fields[name].number == number
            assert fields[name].message_type.full_name == wrapper
        assert fields["allowed_batch_sizes"].number == 6
        assert fields["allowed_batch_sizes"].type == fields["allowed_batch_sizes"].TYPE_INT64
        assert fields["pad_variable_length_inputs"].number == 7
        # The file parses with both the fallback and whatever class is preferred.
        a = cp.load_batching_parameters(prefer_upstream=False)
        b = cp.load_batching_parameters(prefer_upstream=True)
        assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)

    @pytest.mark.skipif(
        not cp.upstream_batching_parameters_available(),
        reason="tensorflow_serving.servables is not shipped in the tensorflow-serving-api wheel",
    )
    def test_fallback_schema_equals_generated_class(self):
        from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2

        upstream = {f.name: f.number for f in session_bundle_config_pb2.BatchingParameters.DESCRIPTOR.fields}
        ours = {f.name: f.number for f in cp.batching_parameters_class(False).DESCRIPTOR.fields}
        assert ours.items() <= upstream.items()

    def test_wrapper_fields_need_value_braces(self):
        from google.protobuf import text_format

        cls = cp.batching_parameters_class()
        with pytest.raises(text_format.ParseError):
            text_format.Parse("max_batch_size: 32", cls())
        assert text_format.Parse("max_batch_size { value: 32 }", cls()).max_batch_size.value == 32

    def test_check_flags_bad_allowed_batch_sizes(self):
        from google.protobuf import text_format

        cls = cp.batching_parameters_class()
        bad = text_format.Parse(
            "max_batch_size { value: 16 } allowed_batch_sizes: 8 allowed_batch_sizes: 4", cls()
        )
        problems = cp.check_batching_parameters(bad)
        assert any("increasing" in p for p in problems)
        assert any("max_batch_size" in p for p in problems)


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    import yaml

    with open(COMPOSE_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def service(compose):
    services = compose["services"]
    assert len(services) == 1
    return next(iter(services.values()))


def _flags(service):
    command = service["command"]
    if isinstance(command, str):
        command = command.split()
    return {arg.split("=", 1)[0]: (arg.split("=", 1)[1] if "=" in arg else True) for arg in command}


class TestCompose:
    def test_official_image_with_pinned_tag(self, service):
        m = re.fullmatch(
            r"tensorflow/serving:(?:\$\{TF_SERVING_VERSION:-)?(\d+\.\d+\.\d+)\}?", service["image"]
        )
        assert m, service["image"]
        assert m.group(1).startswith("2.")

    def test_ports(self, service):
        ports = [str(p) for p in service["ports"]]
        assert "8500:8500" in ports and "8501:8501" in ports
        flags = _flags(service)
        assert flags["--port"] == "8500"
        assert flags["--rest_api_port"] == "8501"

    def test_volumes_and_config_flags(self, service):
        volumes = {v["target"]: v for v in service["volumes"]}
        model = volumes["/models/vae"]
        assert "MODEL_BASE_DIR" in model["source"]
        # The mount point must be the base_path models.config serves.
        config = cp.load_model_server_config()
        assert config.model_config_list.config[0].base_path == "/models/vae"

        flags = _flags(service)
        for flag, local in (
            ("--model_config_file", "models.config"),
            ("--batching_parameters_file", "batching.config"),
        ):
            target = flags[flag]
            assert target in volumes, f"{flag}={target} is not mounted"
            source = volumes[target]["source"]
            assert os.path.normpath(os.path.join(SERVING_DIR, source)) == os.path.join(SERVING_DIR, local)
            assert os.path.isfile(os.path.join(SERVING_DIR, local))
        assert "--enable_batching" in flags

    def test_every_signature_is_batched(self, service):
        """No per-model carve-out: with --enable_per_model_batching_parameters only versions that ship
        batching_params.pbtxt would be batched. Every signature input is batch-major, so all are."""
        flags = _flags(service)
        assert (
            "--enable_batching" in flags and flags["--batching_parameters_file"] == "/config/batching.config"
        )
        assert not any("per_model" in flag for flag in flags)
        with open(COMPOSE_FILE, encoding="utf-8") as fh:
            assert "per_model" not in fh.read()
        with open(os.path.join(SERVING_DIR, "README.md"), encoding="utf-8") as fh:
            assert "per_model" not in fh.read()

    def test_healthcheck_hits_model_status(self, service):
        test = service["healthcheck"]["test"]
        text = " ".join(test) if isinstance(test, list) else test
        assert "/v1/models/vae" in text and "8501" in text


# ---------------------------------------------------------------------------
# The signatures the batcher will see
# ---------------------------------------------------------------------------


def _families():
    import vae_zoo
    from vae_zoo.text import TextCodec

    codec = TextCodec.from_corpus(["a cat sat", "a dog ran"], max_length=6)
    sequence = dict(max_length=6, embedding_dim=8, hidden_units=8, latent_dim=2, seed=0)
    return {
        "dense": vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0),
        "conv": vae_zoo.models.ConvVAE((28, 28, 1), latent_dim=2, filters=(4, 8), hidden_units=8, seed=0),
        "beta": vae_zoo.models.BetaVAE((28, 28, 1), latent_dim=2, seed=0),
        "sentences": vae_zoo.models.SequenceVAE(vocabulary=codec.vocabulary, **sequence),
        "tokens": vae_zoo.models.SequenceVAE(vocab_size=10, **sequence),
    }


def test_every_signature_input_of_every_family_is_batch_major():
    """TF Serving's batcher refuses scalar inputs and joins requests along dimension 0 of every input."""
    for family, model in _families().items():
        for name, (_, specs) in model.serving_signatures().items():
            for spec in specs:
                assert spec.shape.rank and spec.shape[0] is None, (
                    f"{family} {name}/{spec.name}: shape {spec.shape}"
                )


def test_every_exported_signature_input_has_dimension_0_unknown(tmp_path):
    """In the SignatureDefs TF Serving reads (serving_default included): dimension 0 of every input is -1."""
    import vae_zoo
    from tensorflow.core.protobuf import saved_model_pb2

    model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    path = vae_zoo.export_saved_model(model, str(tmp_path), warmup=False)
    with open(os.path.join(path, "saved_model.pb"), "rb") as fh:
        (meta_graph,) = saved_model_pb2.SavedModel.FromString(fh.read()).meta_graphs
    signatures = {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}
    assert {"serving_default", "encode", "decode", "sample", "log_likelihood"} <= set(signatures)
    for name, signature in signatures.items():
        for key, info in signature.inputs.items():
            dims = [d.size for d in info.tensor_shape.dim]
            assert not info.tensor_shape.unknown_rank and dims and dims[0] == -1, f"{name}/{key}: {dims}"


# ---------------------------------------------------------------------------
# Docs
# ---------------------------------------------------------------------------


def test_docstring_examples():
    result = doctest.testmod(cp, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
