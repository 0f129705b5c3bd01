"""`model.export(filepath, format=...)` with Keras's argument names.

`tf_saved_model` (the SavedModel at `filepath` itself) matches eager within 1e-5 at B = 0, 1 and 5,
random signatures included, and `litert` at B = 1 and 5, for a dense model. Both call
`export_saved_model` / `export_tflite`, whose full-covariance conv and sentence exports are checked
against eager by the `runs` session tests (conftest.py) and test_tflite.py; LiteRT fails on some empty
batches ("BytesRequired number of elements overflowed" in a conv encoder), so B = 0 is not tested there.
Formats are registered by `import vae_zoo.models` alone; bad calls are refused naming the argument and
the alternative. ONNX and OpenVINO: test_onnx.py, test_openvino.py."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from export_testing import build_model
from portable_runner import ATOL, eager, signature_inputs

from vae_zoo.models.exporting import EXPORT_FORMATS, ExportMixin

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
KINDS = ("dense",)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Each kind's model, its `tf_saved_model` and `litert` exports, and five rows of inputs."""
    rng = np.random.default_rng(0)
    out = {}
    for kind in KINDS:
        model = build_model(kind)
        tmp = tmp_path_factory.mktemp(kind)
        (tmp / "saved").mkdir()  # an existing empty directory (as pytest's tmp_path) is written into
        saved = model.export(tmp / "saved", warmup=False, log_likelihood_samples=2)  # a pathlib.Path
        lite = model.export(str(tmp / "m.tflite"), format="litert") if kind == "dense" else None
        names = ("encode", "decode", "reconstruct", "sample", "decode_sample")
        inputs = {name: signature_inputs(model, name, rng) for name in names}
        out[kind] = (model, saved, lite, inputs, tf.saved_model.load(str(saved)))
    for name in ("sample", "decode_sample"):  # seeds and temperatures, not uniform floats
        for _, _, _, inputs, _ in out.values():
            inputs[name]["seed"] = np.array([3, 9, 2**40 + 1, -5, 0], "int64")
            if "temperature" in inputs[name]:
                inputs[name]["temperature"] = np.array([1.0, 0.5, 0.0, 2.0, 1.0], "float32")
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch", [0, 1, 5])
def test_tf_saved_model_matches_eager(exports, kind, batch):
    model, _, _, inputs, loaded = exports[kind]
    for name, rows in inputs.items():  # random signatures too: their per-row seeds are kept
        feeds = {k: v[:batch] for k, v in rows.items()}
        got = loaded.signatures[name](**{k: tf.constant(v) for k, v in feeds.items()})
        want = eager(model, name, {k: v[: max(batch, 1)] for k, v in rows.items()})
        assert got["error"].numpy().tolist() == [b""] * batch
        for key, value in want.items():
            value = value[:batch]
            assert got[key].shape == value.shape, f"{name}/{key} at B = {batch}"
            np.testing.assert_allclose(got[key].numpy(), value, atol=ATOL, rtol=0, err_msg=f"{name}/{key}")


def test_tf_saved_model_is_written_at_filepath_itself(exports):
    model, path, _, _, _ = exports["dense"]
    assert os.path.basename(path) == "saved" and os.path.isfile(os.path.join(path, "saved_model.pb"))
    meta = json.load(open(os.path.join(path, "assets.extra", "vae_zoo.json")))
    assert meta["log_likelihood_samples"] == 2 and "serving_default" in meta["signatures"]
    assert not os.path.exists(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"))
    assert sorted(os.listdir(os.path.dirname(path))) == [
        "m.tflite",
        "saved",
    ]  # no staging directory left behind


@pytest.mark.parametrize("batch", [1, 5])
def test_litert_matches_eager(exports, batch):
    from ai_edge_litert.interpreter import Interpreter

    model, _, path, inputs, _ = exports["dense"]
    interpreter = Interpreter(model_path=path)
    for name in ("encode", "decode", "reconstruct"):
        rows = inputs[name]
        got = interpreter.get_signature_runner(name)(**{k: v[:batch] for k, v in rows.items()})
        want = eager(model, name, {k: v[: max(batch, 1)] for k, v in rows.items()})
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value[:batch], atol=ATOL, rtol=0, err_msg=f"{name}/{key}")


def test_importing_vae_zoo_models_alone_registers_every_format():
    code = (
        "import vae_zoo.models\n"
        "from vae_zoo.models.exporting import EXPORT_FORMATS\n"
        "print(sorted(EXPORT_FORMATS))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "['litert', 'onnx', 'openvino', 'tf_saved_model']"


def test_every_family_has_keras_export_signature():
    import inspect

    import keras

    import vae_zoo

    ours = inspect.signature(ExportMixin.export).parameters
    theirs = inspect.signature(keras.Model.export).parameters
    assert list(ours)[:5] == list(theirs)[:5] == ["self", "filepath", "format", "verbose", "input_signature"]
    assert ours["format"].default == theirs["format"].default == "tf_saved_model"
    for family in vae_zoo.models.FAMILIES.values():
        assert family.export is ExportMixin.export, family


def test_an_unknown_format_lists_the_supported_ones(exports, tmp_path):
    model = exports["dense"][0]
    with pytest.raises(ValueError, match=r"Unrecognized format='torch'.*\['litert', 'onnx', 'openvino', "):
        model.export(tmp_path / "m", format="torch")
    assert sorted(EXPORT_FORMATS) == ["litert", "onnx", "openvino", "tf_saved_model"]


def test_input_signature_is_refused(exports, tmp_path):
    with pytest.raises(ValueError, match=r"`input_signature`.*serving_signatures\(\)"):
        exports["dense"][0].export(tmp_path / "m", input_signature=[tf.TensorSpec([None, 784])])


def test_options_a_format_does_not_take_are_refused(exports, tmp_path):
    model = exports["dense"][0]
    with pytest.raises(TypeError, match=r"does not take: \['signatures'\]; it takes: warmup"):
        model.export(tmp_path / "m", signatures=["encode"])
    with pytest.raises(TypeError, match=r"no converter options \(got \['optimizations'\]\)"):
        model.export(str(tmp_path / "m.tflite"), format="litert", optimizations=[])


def test_an_existing_export_is_never_overwritten(exports, tmp_path):
    model, path, _, _, _ = exports["dense"]
    before = sorted(os.listdir(path))
    with pytest.raises(FileExistsError, match="never overwritten"):
        model.export(path)
    assert sorted(os.listdir(path)) == before
    (tmp_path / "m.tflite").write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="never overwritten"):
        model.export(str(tmp_path / "m.tflite"), format="litert")
    assert (tmp_path / "m.tflite").read_bytes() == b"keep me"
