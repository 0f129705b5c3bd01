"""`model.export(directory, format="onnx")`: ONNX Runtime, in a process without vae_zoo, TFP or
TensorFlow, matches eager within 1e-5 at B = 0, 1 and 5 for a dense, a full-covariance conv and a
token-id sequence model (encode); the refusals (random and string signatures, ops ONNX lacks, a
missing extra, a bad opset) name what failed and the alternative."""

import json
import sys

import numpy as np
import pytest
from export_testing import build_model
from portable_runner import assert_parity, eager, export_and_run, token_model

from vae_zoo.export import onnx as onnx_export

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

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
    return export_and_run("onnx", exports, tmp_path_factory.mktemp("onnx"))


@pytest.mark.parametrize("kind", ["dense", "conv_full", "tokens"])
def test_onnx_runtime_matches_eager(run, kind):
    results, report = run
    print(f"onnx {kind}: max abs diff by B {assert_parity(results[kind], report, 'onnx')}")


def test_runtime_process_had_no_vae_zoo_tfp_or_tensorflow(run):
    _, report = run
    assert report["modules"] == []


def test_directory_holds_one_graph_per_signature_and_a_manifest(run):
    results, _ = run
    path = results["conv_full"]["path"]
    manifest = json.load(open(f"{path}/vae_zoo_manifest.json"))
    assert manifest["format"] == "onnx" and manifest["opset"] == onnx_export.DEFAULT_OPSET
    assert sorted(manifest["signatures"]) == sorted(ALL)
    assert manifest["signatures"]["encode"]["outputs"] == ["mean", "scale_tril", "stddev"]
    assert manifest["signatures"]["encode"]["inputs"] == {
        "x": {"shape": [None, 28, 28, 1], "dtype": "float32"}
    }
    graph = onnx.load(f"{path}/decode.onnx")
    assert graph.opset_import[0].version == onnx_export.DEFAULT_OPSET
    assert [i.name for i in graph.graph.input] == ["z"]
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 0  # B is dynamic


def test_random_signatures_are_refused_with_the_reason(tmp_path, dense):
    with pytest.raises(ValueError, match=r"random signatures \['sample'\].*Philox.*tf_saved_model"):
        dense.export(str(tmp_path / "o"), format="onnx", signatures=["sample", "encode"])
    assert not (tmp_path / "o").exists()


def test_sentence_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"takes strings \(encode\(sentences\).*tf_saved_model"):
        build_model("sentences").export(str(tmp_path / "o"), format="onnx")


def test_token_decoding_is_refused_naming_its_ops(tmp_path):
    with pytest.raises(ValueError, match=r"\['decode'\] cannot be converted to onnx.*Bitcast.*signatures=\["):
        token_model().export(str(tmp_path / "o"), format="onnx", signatures=["decode"])
    assert not (tmp_path / "o").exists()


def test_unsupported_ops_are_found_in_subgraphs_too():
    from onnx import helper

    inner = helper.make_graph([helper.make_node("Bitcast", ["a"], ["b"])], "inner", [], [])
    node = helper.make_node("If", ["c"], ["d"], then_branch=inner, else_branch=inner)
    relu = helper.make_node("Relu", ["d"], ["e"])
    graph = helper.make_graph([node, relu], "g", [], [])
    assert onnx_export.unsupported_ops(helper.make_model(graph)) == ["Bitcast"]


def test_a_missing_extra_names_the_install_command(tmp_path, dense, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'vae-zoo\[onnx\]'"):
        dense.export(str(tmp_path / "o"), format="onnx")


@pytest.mark.parametrize("opset", [12, "17", True])
def test_a_bad_opset_is_refused(tmp_path, dense, opset):
    with pytest.raises(ValueError, match="opset_version"):
        dense.export(str(tmp_path / "o"), format="onnx", opset_version=opset)


def test_an_existing_directory_is_never_overwritten(tmp_path, dense):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep").write_text("me")
    with pytest.raises(FileExistsError, match="never overwritten"):
        dense.export(str(tmp_path / "o"), format="onnx")
    assert (tmp_path / "o" / "keep").read_text() == "me"


def test_cli_exports_onnx(tmp_path, capsys, dense):
    from vae_zoo import cli

    model = dense
    keras_file = tmp_path / "m.keras"
    model.save(keras_file)
    out = tmp_path / "cli_onnx"
    assert cli.main(["export", "--format", "onnx", "--signature", "encode", str(keras_file), str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(out))
    assert sorted(json.load(open(out / "vae_zoo_manifest.json"))["signatures"]) == ["encode"]
    # the graph holds the saved model's weights
    import onnxruntime

    x = np.random.default_rng(1).random((2, 28, 28, 1), dtype="float32")
    session = onnxruntime.InferenceSession(str(out / "encode.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        session.run(["mean"], {"x": x})[0], eager(model, "encode", {"x": x})["mean"], atol=1e-5
    )
