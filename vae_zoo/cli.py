"""The `vae-zoo` command: parses arguments and dispatches. Nothing else lives here.

Each subcommand's arguments and work live in the module named in `COMMANDS`
(training, export, evaluation); this module only wires them together.
"""

import argparse
import importlib
import importlib.util
import os
import sys

from vae_zoo.version import __version__

# subcommand -> (module, function, one-line help); the module defines add_arguments(parser) for `main`,
# add_<function>_arguments(parser) for another function (several subcommands in one module).
COMMANDS = {
    "train": ("vae_zoo.training.run", "main", "Train a VAE into a run directory (flags or --config)."),
    "export": (
        "vae_zoo.export.command",
        "main",
        "Export a model as a TF Serving SavedModel (BASE_DIR/<version>), one .tflite file "
        "(--format tflite), or ONNX / OpenVINO graphs (--format onnx|openvino).",
    ),
    "evaluate": (
        "vae_zoo.training.command",
        "evaluate",
        "Importance-weighted log-likelihood and posterior diagnostics "
        "on --split validation (default) or test "
        "(counted in the run's metrics.json).",
    ),
    "plot": ("vae_zoo.plots", "main", "Write a PNG: samples, reconstructions, manifold, scatter, ..."),
    "presets": ("vae_zoo.presets.command", "main", "List the pretrained models (vae_zoo.load(name))."),
    "zoo": (
        "vae_zoo.training.command",
        "zoo",
        "The zoo's protocol: `zoo reproduce NAME` re-runs an entry from its recipe.",
    ),
}


def import_family_module(spec):
    """Imports a module that registers model families: a `.py` file path or a dotted module name."""
    if spec.endswith(".py"):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"--family-module {spec}: no such file")
        name = os.path.splitext(os.path.basename(spec))[0]
        module_spec = importlib.util.spec_from_file_location(name, spec)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as error:
        raise ValueError(f"--family-module {spec}: cannot import it ({error})") from None


def _family_modules(argv):
    """The `--family-module` values, read before the full parser exists (their families add flags)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--family-module", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    return known.family_module


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vae-zoo",
        description="Variational autoencoders for Keras 3: train, evaluate, export for TF Serving.",
    )
    parser.add_argument("--version", action="version", version=f"vae-zoo {__version__}")
    parser.add_argument(
        "--tf-log",
        action="store_true",
        default=argparse.SUPPRESS,  # main() takes it out of argv wherever it is: no setting of any command
        help="show TensorFlow's native (C++) log lines, hidden by default (or VAE_ZOO_TF_LOG=1)",
    )
    parser.add_argument(
        "--family-module",
        action="append",
        default=[],
        metavar="FILE_OR_MODULE",
        help=(
            "import a module that registers model families (vae_zoo.models.register_family) first; repeatable"
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, function, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        adder = "add_arguments" if function == "main" else f"add_{function}_arguments"
        getattr(importlib.import_module(module), adder)(command)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # a global flag, accepted after the subcommand too; the console is set up in vae_zoo/__init__.py,
    # before TensorFlow loads
    argv = [arg for arg in argv if arg != "--tf-log"]
    try:
        for spec in _family_modules(argv):
            import_family_module(spec)
    except (ValueError, FileNotFoundError) as error:
        print(f"vae-zoo: error: {error}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module, function, _ = COMMANDS[args.command]
    try:
        return getattr(importlib.import_module(module), function)(args) or 0
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        # Bad input (names, shapes, files, configs): a message, not a traceback. VAE_ZOO_DEBUG=1 re-raises.
        if os.environ.get("VAE_ZOO_DEBUG"):
            raise
        print(f"vae-zoo {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
