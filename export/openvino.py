"""OpenVINO export: one IR (`.xml` + `.bin`) per deterministic signature (`pip install vae-zoo[openvino]`).

`export_openvino(model, directory)` (or `model.export(directory,
format="openvino")`) traces the raw contract functions of
`model.serving_signatures()` (the graphs of the SavedModel's signatures, without
its per-row checks), converts each with `openvino.convert_model` (its TensorFlow
frontend; converting them from a written SavedModel gives the same graphs and
took 1.6 times as long) and saves it with
`openvino.save_model(..., compress_to_fp16=False)` (OpenVINO's default FP16
weights would cost the 1e-5 parity):

| files | inputs | outputs |
|---|---|---|
| `encode.xml/.bin` | `x` [B, *input_shape] | `mean`, `stddev` [B, L] (+ `scale_tril` [B, L, L]) |
| `decode.xml/.bin` | `z` [B, L] | likelihood parameters (`logits`, `probs` / `loc`, `scale`), `mean` |
| `reconstruct.xml/.bin` | `x` | `reconstruction` [B, *input_shape] |
| `vae_zoo_manifest.json` | | versions, each file's input and output names, shapes, dtypes |

Load one with `openvino.Core().compile_model(directory + "/encode.xml", "CPU", COMPILE_CONFIG)`,
`COMPILE_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}` (also in the manifest, `compile_config`): without
it OpenVINO's CPU plugin computes in bfloat16 on CPUs that have it (AVX512_BF16, AMX), 8e-3 off eager
for a DenseVAE's `encode` mean on an AMD EPYC with AVX512_BF16, and float32 elsewhere. An IR cannot
carry the hint (its `runtime_options` are not read for it, and per-layer precision marks are not kept
by the CPU plugin's bfloat16 pass in 2026.4). Its outputs are named as the signature's
(`result["mean"]`). B is dynamic; there are no per-row checks and no `error` output
(`portable.py`). What converts (OpenVINO 2026.4):

| model | encode | decode | reconstruct |
|---|---|---|---|
| DenseVAE, ConvVAE (also `posterior="full"`), BetaVAE | yes | yes | yes |
| SequenceVAE, token ids | yes | no: greedy decoding's Bitcast, StatelessMultinomial, TensorList | no: same |
| SequenceVAE, sentences (strings) | no: string and lookup-table ops | no | no |

The random signatures are refused (`portable.py`); a signature with an op
OpenVINO has no rule for is refused with the ops named.
"""

import os
import re

from vae_zoo.export import portable

FORMAT = "openvino"
# float32 arithmetic on every CPU: the 1e-5 parity with eager holds only with it (see the docstring)
COMPILE_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def _reason(error):
    """OpenVINO's reason in one line: the ops without a conversion rule, or its message's first line."""
    message = str(error)
    match = re.search(r"No conversion rule found for operations: (.*?)(?: To facilitate|\n|$)", message)
    if match:
        return f"OpenVINO has no conversion rule for {match.group(1).strip()}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return f"openvino.convert_model failed: {type(error).__name__}: {(lines[-1] if lines else '')[:300]}"


def convert(model, names=None):
    """`{name: openvino.Model}` of the signatures `names` (default `encode`, `decode`, `reconstruct`).

    Raises `ValueError` naming each signature that does not convert and its ops,
    and `ImportError` naming `pip install vae-zoo[openvino]` without OpenVINO.
    """
    return {name: ov_model for name, (ov_model, _) in _convert(model, names).items()}


def _convert(model, names):
    """`{name: (openvino.Model, sorted output names)}`."""
    signatures = portable.select(model, names, FORMAT)
    ov = portable.require("openvino", FORMAT)
    if not model.built:
        model.build((None, *model.data_shape))
    converted, failures = {}, {}
    for name, (function, specs) in signatures.items():
        function = portable.traced(function, specs).get_concrete_function()
        try:
            converted[name] = (ov.convert_model(function), sorted(function.structured_outputs))
        except Exception as error:  # OpenVINO's OpConversionFailure / RuntimeError
            failures[name] = _reason(error)
    if failures:
        raise portable.unconvertible(model, FORMAT, failures)
    return converted


def export_openvino(model, filepath, signatures=None, compress_to_fp16=False, verbose=None):
    """Writes `model`'s deterministic signatures as `<filepath>/<signature>.xml`/`.bin` plus a manifest;
    returns `filepath`.

    Args:
        model: a `vae_zoo.models.VAE` with float or token-id inputs.
        filepath: the directory to write (created; an existing non-empty one is never overwritten).
        signatures: a subset of `("encode", "decode", "reconstruct")` (default: all three).
        compress_to_fp16: store the weights as float16 (smaller, not within 1e-5 of eager).
        verbose: print what was written.
    """
    path = portable.check_directory(filepath)
    models = _convert(model, signatures)
    ov = portable.require("openvino", FORMAT)
    specs = {name: spec for name, (_, spec) in model.serving_signatures().items() if name in models}

    def writer(ov_model):
        return lambda target: ov.save_model(ov_model, target, compress_to_fp16=bool(compress_to_fp16))

    files = {f"{name}.xml": writer(ov_model) for name, (ov_model, _) in models.items()}
    record = portable.manifest(
        model,
        FORMAT,
        {name: (specs[name], outputs) for name, (_, outputs) in models.items()},
        {name: [f"{name}.xml", f"{name}.bin"] for name in models},
        openvino_version=ov.get_version(),
        compress_to_fp16=bool(compress_to_fp16),
        compile_config=COMPILE_CONFIG,
    )
    portable.write_directory(path, files, record)
    if verbose:
        print(f"Saved OpenVINO models {sorted(models)} at '{os.path.abspath(path)}'.")
    return path
