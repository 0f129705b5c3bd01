"""`vae-zoo evaluate` and `vae-zoo zoo`: measuring a run, and re-running the zoo's protocol for an entry.

`vae-zoo evaluate RUN [--split validation|test|train]` measures a model with
`vae_zoo.evaluation.evaluate_model` (and the data kind's own numbers, `vae_zoo.kinds`: word level for
sentences)
on one split (`--resume-dir`: its importance-weighted pass resumes where an interrupted one stopped, as
publish's does). The default is `validation`, the split every choice is made on;
`--split test` is allowed, but each test evaluation of a run directory is
appended to its `metrics.json["test_evaluations"]` (when, by what command), and
publish records the count in the entry's `protocol` block.

`vae-zoo zoo reproduce NAME` re-runs the protocol of a registry entry from its
recipe (`vae_zoo.training.reproduce`); `vae-zoo zoo compare A B` compares two
entries on the same test examples (`vae_zoo.training.protocol.compare_entries`).
"""

import json
import os
import sys

from vae_zoo.training import measure

SPLITS = ("validation", "test", "train")


def add_evaluate_arguments(parser):
    parser.add_argument("model", help="a .keras file or a run directory holding model.keras")
    parser.add_argument(
        "--dataset", default=None, help="dataset name or local path (default: the run's, else fashion_mnist)"
    )
    parser.add_argument(
        "--split",
        default="validation",
        choices=SPLITS,
        help="validation (default: where choices are made) | test (allowed, and counted in the run's "
        "metrics.json) | train",
    )
    parser.add_argument("--binarize", default="static", help="static | none (the split is binarized once)")
    parser.add_argument("--num-samples", type=int, default=5000, help="importance samples per example")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--mi-examples",
        type=int,
        default=2000,
        help="examples of the I(x; z) estimate, which is at most log N (default 2000)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the binarization and the importance samples (default: the run's, else 0)",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--out", default=None, help="report path (default: RUN_DIR/evaluation.json or next to the model)"
    )
    measure.add_resume_argument(parser)


def _run_config(run_dir):
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        return {}
    import yaml

    with open(path) as f:
        return yaml.safe_load(f) or {}


def _command(args, dataset, seed):
    parts = [
        "vae-zoo evaluate",
        args.model,
        f"--dataset {dataset}",
        f"--split {args.split}",
        f"--seed {seed}",
    ]
    parts.append(f"--num-samples {args.num_samples}")
    parts += [] if args.max_examples is None else [f"--max-examples {args.max_examples}"]
    return " ".join(parts)


def evaluate(args):
    """Entry point of `vae-zoo evaluate`."""
    from vae_zoo import evaluation, kinds
    from vae_zoo.presets import load_model
    from vae_zoo.training import protocol

    if args.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {args.num_samples}")
    run_dir = args.model if os.path.isdir(args.model) else os.path.dirname(args.model) or "."
    run_config = _run_config(run_dir)
    dataset = args.dataset or run_config.get("dataset", "fashion_mnist")
    seed = args.seed if args.seed is not None else run_config.get("seed", 0)
    model = load_model(args.model)
    kind = kinds.kind_of_model(model)  # how its data are read and what it measures besides (vae_zoo.kinds)
    # only images are binarized: other kinds record None in the report
    binarize = kind.evaluation_binarize(None if args.binarize in ("none", "None", "") else args.binarize)
    x = kind.load_split(
        model, dataset, split=args.split, binarize=binarize, seed=seed, data_dir=args.data_dir
    )
    x = x[: args.max_examples] if args.max_examples else x
    report = evaluation.evaluate_model(
        model,
        x,
        num_samples=args.num_samples,
        seed=seed,
        batch_size=args.batch_size,
        mi_examples=args.mi_examples,
        resume_dir=measure.resume_dir(args.resume_dir),
    )
    # the kind's own numbers (sentences: [UNK] share, word-level reconstruction F1 and its floor)
    report.update(kind.evaluation_extras(model, dataset, args.split, len(x), seed, data_dir=args.data_dir))
    report.update(dataset=dataset, split=args.split, binarize=binarize, seed=seed, model=args.model)
    if args.split == "test":
        count = protocol.record_test_evaluation(
            run_dir,
            "vae-zoo evaluate",
            _command(args, dataset, seed),
            num_samples=args.num_samples,
            examples=len(x),
        )
        report["test_evaluations"] = count
        if count:
            where = (
                f"test evaluation {count} of this run, recorded in {os.path.join(run_dir, 'metrics.json')}"
            )
        else:
            where = "a test evaluation of a model outside a run directory (no metrics.json to record it in)"
        print(f"vae-zoo evaluate: {where}; choices belong on --split validation", file=sys.stderr)
    out = args.out or os.path.join(run_dir, "evaluation.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, list)}, indent=2))
    print(f"report written to {out}")
    return 0


COMPARE_HELP = (
    "Compare two entries' NLL on the same test examples: difference, paired standard error, combined "
    "uncertainty "
    "and the wording it allows (better than / on par with / worse than)."
)


def add_zoo_arguments(parser):
    from vae_zoo.training import reproduce

    sub = parser.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND", required=True)
    command = sub.add_parser("reproduce", help=reproduce.HELP, description=reproduce.__doc__)
    reproduce.add_arguments(command)
    command = sub.add_parser("compare", help=COMPARE_HELP, description=COMPARE_HELP)
    command.add_argument("name_a")
    command.add_argument("name_b")
    command.add_argument(
        "--registry", default=None, help="the registry holding both (default: the shipped one)"
    )


def _compare(args):
    from vae_zoo.training import protocol

    result = protocol.compare_entries(args.name_a, args.name_b, args.registry)
    print(json.dumps(result, indent=2))
    print(
        f"{args.name_a} is {result['wording']} {args.name_b}: {result['difference']:+.2f} "
        f"± {result['uncertainty']:.2f} nats (paired standard error {result['paired_standard_error']:.2f})"
    )
    return 0


def zoo(args):
    """Entry point of `vae-zoo zoo`."""
    from vae_zoo.training import reproduce

    return {"reproduce": reproduce.main, "compare": _compare}[args.zoo_command](args)
