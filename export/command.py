"""`vae-zoo export MODEL_OR_RUN_DIR BASE_DIR [--version N]`."""


def add_arguments(parser):
    parser.add_argument("model", help="a .keras file, or a run directory holding model.keras")
    parser.add_argument("base_dir", help="TF Serving base path; the SavedModel goes to BASE_DIR/<version>/")
    parser.add_argument("--version", default=None, help="positive integer (default: next free)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip TF Serving warmup requests")


def main(args):
    from vae_zoo.export.saved_model import export_saved_model
    from vae_zoo.presets import load_model

    path = export_saved_model(load_model(args.model), args.base_dir, version=args.version, warmup=args.warmup)
    print(path)
    return 0
