"""`vae-zoo export MODEL_OR_RUN_DIR BASE_DIR [--version N]` (a TF Serving SavedModel in BASE_DIR/<version>/),
`vae-zoo export --format tflite MODEL FILE.tflite`, and
`vae-zoo export --format onnx|openvino MODEL DIRECTORY [--signature NAME ...] [--opset-version N]`
(`model.export(DIRECTORY, format=...)`: one graph per deterministic signature and a manifest)."""

#: `--format` values: `savedmodel` is the original spelling of `saved_model`.
FORMATS = ("saved_model", "savedmodel", "tflite", "onnx", "openvino")
#: `--format` -> `model.export`'s format name, for the formats written through `model.export`.
MODEL_EXPORT_FORMATS = {"onnx": "onnx", "openvino": "openvino"}


def add_arguments(parser):
    parser.add_argument("model", help="a .keras file, or a run directory holding model.keras")
    parser.add_argument(
        "base_dir",
        metavar="PATH",
        help=(
            "saved_model: TF Serving base path, the SavedModel goes to PATH/<version>/; "
            "tflite: the .tflite file to write; onnx, openvino: the directory to write"
        ),
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="saved_model",
        help=(
            "saved_model (TF Serving, every signature; default; also spelled savedmodel), "
            "tflite (one file: encode, decode, reconstruct), "
            "onnx (pip install vae-zoo[onnx]) or openvino (pip install vae-zoo[openvino]): "
            "one graph per deterministic signature"
        ),
    )
    parser.add_argument(
        "--version", default=None, help="positive integer (default: next free); saved_model only"
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip TF Serving warmup requests; saved_model only",
    )
    parser.add_argument(
        "--log-likelihood-samples",
        type=int,
        default=None,
        help="K of the log_likelihood signature (default 100); saved_model only",
    )
    parser.add_argument(
        "--signature",
        dest="signatures",
        action="append",
        default=None,
        help="onnx, openvino: a signature to convert (repeat; default encode, decode and reconstruct)",
    )
    parser.add_argument(
        "--opset-version", type=int, default=None, help="onnx only: the ONNX opset (default 17)"
    )


def _refuse(flags, applies_to, fmt, what):
    given = [flag for flag, used in flags if used]
    if given:
        raise ValueError(f"{' and '.join(given)} apply to --format {applies_to} only; --format {fmt} {what}")


def main(args):
    from vae_zoo.presets import load_model

    saved_model_flags = (
        ("--version", args.version is not None),
        ("--no-warmup", not args.warmup),
        ("--log-likelihood-samples", args.log_likelihood_samples is not None),
    )
    signature_flag = (("--signature", args.signatures is not None),)
    opset_flag = (("--opset-version", args.opset_version is not None),)
    if args.format in MODEL_EXPORT_FORMATS:
        _refuse(saved_model_flags, "savedmodel", args.format, "writes one directory of graphs")
        options = {"signatures": args.signatures}
        if args.format == "onnx":
            options["opset_version"] = args.opset_version
        else:
            _refuse(opset_flag, "onnx", args.format, "has no opset")
        model = load_model(args.model)
        print(model.export(args.base_dir, format=MODEL_EXPORT_FORMATS[args.format], **options))
        return 0
    if args.format == "tflite":
        from vae_zoo.export.tflite import export_tflite

        _refuse(saved_model_flags, "savedmodel", "tflite", "writes one file")
        _refuse(signature_flag + opset_flag, "onnx and openvino", "tflite", "writes one file")
        print(export_tflite(load_model(args.model), args.base_dir))
        return 0
    from vae_zoo.export.saved_model import export_saved_model

    _refuse(signature_flag + opset_flag, "onnx and openvino", args.format, "writes every signature")
    path = export_saved_model(
        load_model(args.model),
        args.base_dir,
        version=args.version,
        warmup=args.warmup,
        log_likelihood_samples=args.log_likelihood_samples,
    )
    print(path)
    return 0
