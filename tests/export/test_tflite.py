"""TFLite export: each signature runner in LiteRT's own interpreter matches eager at B = 1 and 5;
the CLI; the refusals (sentence model, existing file, sampling signatures)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import vae_zoo
from vae_zoo.export import tflite
from vae_zoo.export.tflite import export_tflite

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
ATOL = 1e-5
DENSE = dict(input_shape=(28, 28, 1), latent_dim=4, hidden_units=(64,))
CONV = dict(input_shape=(28, 28, 1), latent_dim=3, filters=(8, 16), hidden_units=16, posterior="full")


def _trained(family, kwargs, images, num_images):
    """`family(**kwargs)` trained 1 epoch on the first `num_images` Fashion-MNIST images."""
    keras.utils.set_random_seed(0)
    model = family(**kwargs, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), steps_per_execution=1)
    model.fit(images[:num_images], batch_size=32, epochs=1, shuffle=False, verbose=0)
    return model


@pytest.fixture(scope="module")
def dense(fashion_train, tmp_path_factory):
    """A trained DenseVAE and its export: (model, .tflite path, 5 held-out images in [0, 1])."""
    model = _trained(vae_zoo.models.DenseVAE, DENSE, fashion_train, 640)
    path = export_tflite(model, str(tmp_path_factory.mktemp("dense") / "dense.tflite"))
    return model, path, fashion_train[1000:1005].astype("float32") / 255.0


@pytest.fixture(scope="module")
def conv(fashion_train, tmp_path_factory):
    """A trained ConvVAE with a full-covariance posterior (scale_tril) and its export (in a new folder)."""
    model = _trained(vae_zoo.models.ConvVAE, CONV, fashion_train, 512)
    path = export_tflite(model, str(tmp_path_factory.mktemp("conv") / "nested" / "conv.tflite"))
    return model, path, fashion_train[1000:1005].astype("float32") / 255.0


def _run(path, name, **inputs):
    interpreter = Interpreter(model_path=path)
    return {k: np.array(v) for k, v in interpreter.get_signature_runner(name)(**inputs).items()}


def _eager(model, name, value):
    if name == "encode":
        q = model.encode(value)
        outputs = {"mean": q.mean(), "stddev": q.stddev()}
        if hasattr(q, "scale_tril"):
            outputs["scale_tril"] = q.scale_tril
        return {k: np.array(v) for k, v in outputs.items()}
    if name == "decode":
        outputs = {k: np.array(v) for k, v in model.decode_outputs(value).items()}
        np.testing.assert_allclose(outputs["mean"], np.array(model.decode(value).mean()), atol=ATOL)
        return outputs
    return {"reconstruction": np.array(model.reconstruct(value))}


def _inputs(model, images, batch):
    z = np.random.default_rng(batch).normal(size=(batch, model.latent_dim)).astype("float32")
    return {"encode": ("x", images[:batch]), "decode": ("z", z), "reconstruct": ("x", images[:batch])}


@pytest.mark.parametrize("which", ["dense", "conv"])
def test_signature_runners_match_eager(which, request):
    model, path, images = request.getfixturevalue(which)
    other = type(model)(**(DENSE if which == "dense" else CONV), seed=7)  # same shapes, other weights
    interpreter = Interpreter(model_path=path)
    signatures = interpreter.get_signature_list()
    encode_outputs = ["mean", "stddev"] + (["scale_tril"] if which == "conv" else [])
    assert signatures == {
        "encode": {"inputs": ["x"], "outputs": sorted(encode_outputs)},
        "decode": {"inputs": ["z"], "outputs": ["logits", "mean", "probs"]},
        "reconstruct": {"inputs": ["x"], "outputs": ["reconstruction"]},
    }
    for name, (key, _) in _inputs(model, images, 1).items():  # every input has a dynamic batch dimension
        detail = interpreter.get_signature_runner(name).get_input_details()[key]
        assert list(detail["shape_signature"]) == [
            -1,
            *(model.data_shape if key == "x" else (model.latent_dim,)),
        ]
    for batch in (1, 5):
        for name, (key, value) in _inputs(model, images, batch).items():
            got = _run(path, name, **{key: value})
            want = _eager(model, name, value)
            assert sorted(got) == sorted(want), name
            for output, expected in want.items():
                assert got[output].shape == expected.shape, (name, output, batch)
                np.testing.assert_allclose(
                    got[output], expected, atol=ATOL, rtol=0, err_msg=f"{name}/{output} B={batch}"
                )
                # the tolerance tells models apart: another model's outputs are far off
                assert not np.allclose(got[output], _eager(other, name, value)[output], atol=1e-3), (
                    name,
                    output,
                )
    # row i depends on row i alone: the first of 5 rows is the row run alone
    five, one = _run(path, "reconstruct", x=images[:5]), _run(path, "reconstruct", x=images[:1])
    np.testing.assert_allclose(five["reconstruction"][:1], one["reconstruction"], atol=ATOL)
    assert not np.allclose(five["reconstruction"][0], five["reconstruction"][1], atol=1e-3)


def test_the_file_holds_the_trained_weights(dense):
    """Held-out images reconstruct better through the exported trained model than through an untrained one."""
    model, path, images = dense
    trained = ((_run(path, "reconstruct", x=images)["reconstruction"] - images) ** 2).mean()
    untrained = (
        (np.array(vae_zoo.models.DenseVAE(**DENSE, seed=0).reconstruct(images)) - images) ** 2
    ).mean()
    assert trained < 0.6 * untrained, (trained, untrained)


def test_cli_exports_tflite(dense, tmp_path):
    model, path, images = dense
    keras_file = tmp_path / "dense.keras"
    model.save(keras_file)
    out = tmp_path / "cli" / "model.tflite"
    result = subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", "export", "--format", "tflite", str(keras_file), str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == str(out)
    z = np.random.default_rng(3).normal(size=(2, model.latent_dim)).astype("float32")
    for name, inputs in (
        ("decode", {"z": z}),
        ("reconstruct", {"x": images[:2]}),
        ("encode", {"x": images[:2]}),
    ):
        got, want = _run(str(out), name, **inputs), _run(path, name, **inputs)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=ATOL, err_msg=f"{name}/{key}")


def test_cli_refuses_savedmodel_flags_with_tflite(tmp_path, capsys):
    from vae_zoo import cli

    code = cli.main(
        ["export", "--format", "tflite", "--version", "2", "no_such.keras", str(tmp_path / "m.tflite")]
    )
    assert code == 2
    assert "--version apply to --format savedmodel only" in capsys.readouterr().err
    assert not (tmp_path / "m.tflite").exists()


def test_existing_file_is_never_overwritten(dense, tmp_path):
    model, path, _ = dense
    target = tmp_path / "taken.tflite"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="already exists; it is never overwritten"):
        export_tflite(model, str(target))
    assert target.read_bytes() == b"keep me"
    with pytest.raises(FileExistsError, match="already exists"):
        export_tflite(model, path)  # the fixture's own export
    with pytest.raises(ValueError, match=r"path must end in \.tflite .*got '.*model\.lite'"):
        export_tflite(model, str(tmp_path / "model.lite"))
    with pytest.raises(ValueError, match="needs a vae_zoo VAE model, got Sequential"):
        export_tflite(keras.Sequential([keras.layers.Dense(2)]), str(tmp_path / "other.tflite"))
    assert sorted(os.listdir(tmp_path)) == ["taken.tflite"]  # nothing written, no staging file left


def test_sentence_models_are_refused(tmp_path):
    from vae_zoo.text import TextCodec

    codec = TextCodec.from_corpus(["a cat sat", "a dog ran"], max_length=4)
    model = vae_zoo.models.SequenceVAE(
        vocabulary=codec.vocabulary, max_length=4, embedding_dim=4, hidden_units=4, latent_dim=2, seed=0
    )
    with pytest.raises(
        ValueError, match=r"SequenceVAE takes strings \(encode\(sentences\).*TF Select ops.*SavedModel"
    ):
        export_tflite(model, str(tmp_path / "sentences.tflite"))
    assert not os.listdir(tmp_path)


def test_sampling_signatures_need_tf_select(dense):
    """Stateless random ops are not TFLite builtins: converting `sample` with builtins only fails, naming
    them."""
    model, _, _ = dense
    with pytest.raises(
        ValueError, match=r"DenseVAE signatures \['sample'\] need TensorFlow ops .*StatelessRandom"
    ):
        tflite.convert(model, ["sample"])


def test_converter_failures_become_value_errors_with_the_reason():
    """Other conversion failures (e.g. the sequence models' LSTM TensorList ops) name the converter's first
    error."""
    message = (
        '<unknown>:0: error: loc(callsite(fused["TensorListReserve:", "lstm/TensorArrayV2@f"] '
        'at fused["S:", "S"])): '
        "'tf.TensorListReserve' op requires element_shape to be static during TF Lite transformation pass\n"
        "<unknown>:0: error: failed while converting: 'main'\n"
        "<unknown>:0: error: Lowering tensor list ops is failed. "
        "Please consider using Select TF ops and disabling it"
    )
    error = tflite._conversion_error(vae_zoo.models.DenseVAE(**DENSE), ["encode"], message)
    assert str(error) == (
        "DenseVAE signatures ['encode'] cannot be converted with TFLite builtin ops only: "
        "'tf.TensorListReserve' op "
        "requires element_shape to be static during TF Lite transformation pass "
        "(export a SavedModel with vae_zoo.export_saved_model instead)"
    )
    select = tflite._conversion_error(
        vae_zoo.models.DenseVAE(**DENSE), ["sample"], "x\nTF Select ops: FloorDiv, Erf\nDetails:"
    )
    assert "need TensorFlow ops that are not TFLite builtins (FloorDiv, Erf)" in str(select)
