"""`vae-zoo presets`: the table of pretrained models."""

import json

from vae_zoo.presets.loader import list_presets, registry


def add_arguments(parser):
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the registry as JSON (as kept: asset files named, not inlined)",
    )


def main(args):
    presets = list_presets()
    if args.json:
        print(json.dumps(registry(resolve=False), indent=2))
        return 0
    print(f"{'name':28} {'class':12} {'test NLL':>9} {'test -ELBO':>11}  description")
    for name, p in sorted(presets.items()):
        m = p["metrics"]
        print(
            f"{name:28} {p['model_class']:12} {m.get('test_nll', float('nan')):9.2f} "
            f"{m.get('test_negative_elbo', float('nan')):11.2f}  {p['description']}"
        )
    return 0
