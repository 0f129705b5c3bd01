"""Training step time of a recipe and of variants of it, measured in alternating processes.

Each variant is the recipe's config with some settings replaced (`--variant NAME JSON`, the JSON
a mapping of config keys; `model_kwargs` entries are merged into the recipe's). Every process
builds the model and optimizer exactly as `vae-zoo train` does (`training.run.build_model`,
`compile_model`, and the recipe's precision policy), traces with a warm-up
`fit` of `--steps` steps, then times `--repeats` fits of `--steps` steps on the first `--steps`
batches of the recipe's own training stream, cached (a fresh iterator of the stream itself would
refill its shuffle buffer at every `fit`), and reports the best. Rounds alternate the variants
(a, b, c, a, b, c, ...) so that each round's ratio to the first variant compares runs made under
the same machine conditions; the table gives each variant's median ms/step over rounds and its
median per-round ratio to the recipe's. The first line is the CPU (`benchmarks/machine.py`).

    python benchmarks/recipe_step_time.py training/recipes/hvae_fashion_mnist.yaml \\
        --variant hidden512 '{"model_kwargs": {"hidden_units": 512}}' \\
        --variant bf16 '{"mixed_precision": true}'
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _config(recipe, changes):
    from vae_zoo.training import config as config_lib

    config = config_lib.load_file(recipe)
    changes = dict(changes)
    kwargs = {**config.get("model_kwargs", {}), **changes.pop("model_kwargs", {})}
    config.update(changes, model_kwargs=kwargs, out=None)
    return config_lib.resolve(overrides=config)


def one(args):
    """Times one variant (in a child process); prints a JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    sys.path.insert(0, HERE)
    from machine import machine

    from vae_zoo.training import config as config_lib
    from vae_zoo.training import run, strategies

    config = _config(args.recipe, json.loads(args.changes))
    policy = strategies.set_precision(config["mixed_precision"])
    keras.utils.set_random_seed(config["seed"])
    data, settings = config_lib.data_kind(config).training_data(config, verbose=False)
    model = run.build_model(config, settings)
    run.compile_model(model, config, data["train"])
    # the first `steps` batches, cached: a new iterator per `fit` would refill the shuffle buffer
    stream = data["train"].take(args.steps).cache().repeat()
    model.fit(stream, steps_per_epoch=args.steps, epochs=1, verbose=0)  # tracing, caches
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.fit(stream, steps_per_epoch=args.steps, epochs=1, verbose=0)
        seconds.append((time.perf_counter() - start) / args.steps)
    result = {
        "changes": json.loads(args.changes),
        "policy": policy,
        "parameters": model.count_params(),
        "ms_per_step": 1000 * min(seconds),
        "batch_size": config["batch_size"],
        "machine": machine(),
    }
    print(json.dumps(result), flush=True)


def _measure(args, changes):
    argv = [sys.executable, __file__, args.recipe, "--one", json.dumps(changes)]
    argv += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"variant {changes} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("recipe", help="a training recipe (training/recipes/*.yaml)")
    parser.add_argument(
        "--variant",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "JSON"),
        help="a variant: its name and the config keys it changes (JSON mapping); repeatable",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=64,
        help="steps per timed fit (default 64; keep it a multiple of the model's steps_per_execution, 32 by "
        "default, or each fit pays for a short execution)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per process (the best is kept)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds over the variants")
    parser.add_argument("--one", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        args.changes = args.one
        return one(args)
    variants = {"recipe": {}}
    for name, text in args.variant:
        changes = json.loads(text)
        if not isinstance(changes, dict):
            parser.error(f"--variant {name}: expected a JSON mapping of config keys, got {text!r}")
        if name in variants:
            parser.error(f"--variant {name} given twice")
        variants[name] = changes
    for name, changes in variants.items():  # refuse a bad key before any process starts
        try:
            _config(args.recipe, changes)
        except ValueError as error:
            parser.error(f"--variant {name}: {error}")
    sys.path.insert(0, HERE)
    from machine import describe

    rounds = f"{args.rounds} alternating rounds, best of {args.repeats} x {args.steps} steps"
    print(f"{describe()}; {args.recipe}; {rounds}")
    times = {name: [] for name in variants}
    params = {}
    for _ in range(args.rounds):
        for name, changes in variants.items():
            result = _measure(args, changes)
            times[name].append(result["ms_per_step"])
            params[name] = (result["parameters"], result["policy"])
            print(json.dumps({"variant": name, **result}), file=sys.stderr, flush=True)

    columns = "variant | changes | parameters | policy | ms/step median (min-max) | ratio to recipe"
    print(f"\n| {columns} |")
    print("|---|---|---|---|---|---|")
    base = times["recipe"]
    for name, values in times.items():
        ratio = statistics.median([v / b for v, b in zip(values, base)])
        spread = f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"
        changes = json.dumps(variants[name]) if variants[name] else "-"
        print(f"| {name} | `{changes}` | {params[name][0]:,} | {params[name][1]} | {spread} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
