"""`model.export(directory, format="openvino")`: OpenVINO's CPU plugin, in a process without vae_zoo,
TFP or TensorFlow, matches eager within 1e-5 at B = 0, 1 and 5 for a dense, a full-covariance conv and
a token-id sequence model (encode); the refusals name what failed and the alternative."""

import json
import sys

import pytest
from export_testing import build_model
from portable_runner import assert_parity, export_and_run, token_model

import vae_zoo  # noqa: F401

pytest.importorskip("openvino")

ALL = ("encode", "decode", "reconstruct")


@pytest.fixture(scope="module")
def dense():
    return build_model("dense")


@pytest.fixture(scope="module")
def run(tmp_path_factory, dense):
    exports = {
        "dense": (dense, ALL),
        "conv_full": (build_model("conv_full"), ALL),
        "tokens": (token_model(), ("encode",)),
    }
    return export_and_run("openvino", exports, tmp_path_factory.mktemp("openvino"))


@pytest.mark.parametrize("kind", ["dense", "conv_full", "tokens"])
def test_openvino_matches_eager(run, kind):
    results, report = run
    print(f"openvino {kind}: max abs diff by B {assert_parity(results[kind], report, 'openvino')}")


def test_runtime_process_had_no_vae_zoo_tfp_or_tensorflow(run):
    _, report = run
    assert report["modules"] == []


def test_directory_holds_one_model_per_signature_and_a_manifest(run):
    results, _ = run
    path = results["dense"]["path"]
    manifest = json.load(open(f"{path}/vae_zoo_manifest.json"))
    assert manifest["format"] == "openvino" and manifest["compress_to_fp16"] is False
    # without it, CPUs with bfloat16 (AVX512_BF16, AMX) compute in bfloat16: 8e-3 off eager, not 1e-5
    assert manifest["compile_config"] == {"INFERENCE_PRECISION_HINT": "f32"}
    assert manifest["signatures"]["decode"]["files"] == ["decode.xml", "decode.bin"]
    assert manifest["signatures"]["decode"]["outputs"] == ["logits", "mean", "probs"]
    assert '<port id="0" precision="FP16"' not in open(f"{path}/decode.xml").read()  # float32 weights


def test_random_signatures_are_refused_with_the_reason(tmp_path, dense):
    with pytest.raises(ValueError, match=r"random signatures \['encode_sample'\].*Philox.*tf_saved_model"):
        dense.export(str(tmp_path / "o"), format="openvino", signatures=["encode_sample"])


def test_sentence_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"takes strings.*format='openvino'.*tf_saved_model"):
        build_model("sentences").export(str(tmp_path / "o"), format="openvino")


#: What openvino.convert_model raises for the token model's decode and reconstruct (OpenVINO 2026.4).
TOKEN_DECODE_FAILURE = (
    "Check 'false' failed at src/frontends/common_translators/src/unconverted_ops_report.cpp:151:\n"
    "FrontEnd API failed with OpConversionFailure:\nModel wasn't fully converted. Summary:\n"
    "-- No conversion rule found for operations: Bitcast, StatelessMultinomial, TensorList\n"
    "To facilitate the conversion of unsupported operations, refer to Frontend Extension documentation"
)


def test_an_op_without_a_conversion_rule_is_refused_naming_it(tmp_path, dense, monkeypatch):
    # The real failure (token decoding) takes 18 s to reach on two cores; its message is replayed here.
    import openvino

    def convert_model(function):
        raise RuntimeError(TOKEN_DECODE_FAILURE)

    monkeypatch.setattr(openvino, "convert_model", convert_model)
    with pytest.raises(
        ValueError,
        match=r"\['decode'\] cannot be converted to openvino: decode: OpenVINO has no conversion rule for "
        r"Bitcast, StatelessMultinomial, TensorList\. Pass signatures=\[",
    ):
        dense.export(str(tmp_path / "o"), format="openvino", signatures=["decode"])
    assert not (tmp_path / "o").exists()


def test_a_missing_extra_names_the_install_command(tmp_path, dense, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(ImportError, match=r"pip install 'vae-zoo\[openvino\]'"):
        dense.export(str(tmp_path / "o"), format="openvino")


def test_onnx_options_are_refused(tmp_path, dense):
    with pytest.raises(TypeError, match=r"does not take: \['opset_version'\]; it takes: signatures"):
        dense.export(str(tmp_path / "o"), format="openvino", opset_version=17)
