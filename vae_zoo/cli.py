"""The `vae-zoo` command: parses arguments and dispatches. Nothing else lives here.

Each subcommand's arguments and work live in the module named in `COMMANDS`
(training, export, evaluation); this module only wires them together.
"""

import argparse
import importlib
import os
import sys

from vae_zoo.version import __version__

# subcommand -> (module, function, one-line help); each module defines add_arguments(parser).
COMMANDS = {
    "train": ("vae_zoo.training.run", "main", "Train a VAE into a run directory (flags or --config)."),
    "export": ("vae_zoo.export.command", "main", "Export a model as a TF Serving SavedModel (BASE_DIR/<version>)."),
    "evaluate": ("vae_zoo.evaluation", "main", "Importance-weighted log-likelihood and posterior diagnostics."),
    "plot": ("vae_zoo.plots", "main", "Write a PNG: samples, reconstructions, manifold, scatter, ..."),
    "presets": ("vae_zoo.presets", "main", "List the pretrained models (vae_zoo.load(name))."),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vae-zoo",
        description="Variational autoencoders for Keras 3: train, evaluate, export for TF Serving.",
    )
    parser.add_argument("--version", action="version", version=f"vae-zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, _, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command)
    return parser


def main(argv=None):
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
