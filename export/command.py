"""`vae-zoo export MODEL_OR_RUN_DIR BASE_DIR [--version N]` and
`vae-zoo export --format tflite MODEL FILE.tflite`."""

FORMATS = ("savedmodel", "tflite")


def add_arguments(parser):
    parser.add_argument("model", help="a .keras file, or a run directory holding model.keras")
    parser.add_argument(
        "base_dir",
        metavar="PATH",
        help=(
            "savedmodel: TF Serving base path, the SavedModel goes to PATH/<version>/; "
            "tflite: the .tflite file to write"
        ),
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="savedmodel",
        help=(
            "savedmodel (TF Serving, every signature; default) "
            "or tflite (one file: encode, decode, reconstruct)"
        ),
    )
    parser.add_argument(
        "--version", default=None, help="positive integer (default: next free); savedmodel only"
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip TF Serving warmup requests; savedmodel only",
    )
    parser.add_argument(
        "--log-likelihood-samples",
        type=int,
        default=None,
        help="K of the log_likelihood signature (default 100); savedmodel only",
    )


def main(args):
    from vae_zoo.presets import load_model

    if args.format == "tflite":
        from vae_zoo.export.tflite import export_tflite

        flags = (
            ("--version", args.version is not None),
            ("--no-warmup", not args.warmup),
            ("--log-likelihood-samples", args.log_likelihood_samples is not None),
        )
        given = [flag for flag, used in flags if used]
        if given:
            raise ValueError(
                f"{' and '.join(given)} apply to --format savedmodel only; --format tflite writes one file"
            )
        print(export_tflite(load_model(args.model), args.base_dir))
        return 0
    from vae_zoo.export.saved_model import export_saved_model

    path = export_saved_model(
        load_model(args.model),
        args.base_dir,
        version=args.version,
        warmup=args.warmup,
        log_likelihood_samples=args.log_likelihood_samples,
    )
    print(path)
    return 0
