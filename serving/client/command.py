"""Command line for :mod:`serving.client` (``python -m serving.client --help``).

Prints JSON summaries of the model status, metadata and signature outputs,
over REST (default) or gRPC (``--grpc HOST:PORT``). Input shapes and dtypes
come from the model's metadata, so ``--random N`` alone draws ``N`` rows of
the model's own input shape::

    python -m serving.client --url http://localhost:8501 status
    python -m serving.client sample --seed 1 --num-rows 4 --temperature 0.8
    python -m serving.client encode --random 2
    python -m serving.client reconstruct --sentences "a small dog" "a cat"
    python -m serving.client predict sample --inputs '{"seed": [1, 2], "temperature": [1.0, 0.5]}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping

import numpy as np

from .common import DEFAULT_MODEL_NAME, DEFAULT_REST_URL, TFServingError, signature_inputs
from .grpc_client import GrpcClient
from .rest import RestClient

__all__ = ["main"]


def _summarize(arrays: Mapping[str, np.ndarray], full: bool) -> dict:
    out = {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        info: dict[str, Any] = {"shape": list(arr.shape), "dtype": arr.dtype.name}
        if arr.size and arr.dtype.kind in "fiub":
            info.update(min=float(arr.min()), max=float(arr.max()), mean=float(arr.mean()))
        if full or arr.size <= 16 or arr.dtype == object:
            info["values"] = (
                arr.tolist()
                if arr.dtype != object
                else np.vectorize(_jsonable, otypes=[object])(arr).tolist()
            )
        out[name] = info
    return out


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str) else repr(value)


def _load_array(
    path: str | None, random_shape: list[int] | None, kind: str, seed: int, model_shape=None
) -> Any:
    """Inputs from ``path`` (.npy, or .json for numbers or strings), else random rows.

    ``random_shape`` is ``[N]`` (``N`` rows of the model's shape ``model_shape``,
    its dimensions after the first, from the metadata) or a full shape.
    """
    if path:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        return np.load(path)
    if len(random_shape) == 1 and model_shape is not None:
        if any(d < 0 for d in model_shape):
            raise ValueError(
                f"the model's input shape {[-1, *model_shape]} is not fully known: give every dimension"
            )
        random_shape = [random_shape[0], *model_shape]
    rng = np.random.default_rng(seed)
    if kind == "x":
        return rng.uniform(size=random_shape).astype(np.float32)
    return rng.standard_normal(size=random_shape).astype(np.float32)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.client",
        description="Query a vae-zoo model on TensorFlow Serving and print JSON summaries.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("TF_SERVING_URL", DEFAULT_REST_URL),
        help="REST base URL (default: $TF_SERVING_URL or %(default)s)",
    )
    parser.add_argument("--grpc", metavar="HOST:PORT", help="use gRPC at HOST:PORT instead of REST")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help="model name (default: %(default)s)")
    parser.add_argument("--version", type=int, help="model version (default: newest)")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--format", choices=("columnar", "row"), default="columnar", help="REST body format")
    parser.add_argument("--full", action="store_true", help="print all values, not just summaries")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="model version status")
    sub.add_parser("metadata", help="signature definitions")

    def add_x(p):
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument(
            "--x", metavar="FILE", help="inputs as .npy or .json (a list of strings for sentence models)"
        )
        g.add_argument("--sentences", nargs="+", metavar="TEXT", help="sentences (sentence models)")
        g.add_argument(
            "--random",
            nargs="+",
            type=int,
            metavar="DIM",
            help="uniform random x: N rows of the model's input shape, or a full shape such as 2 28 28 1",
        )

    def add_z(p):
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--z", metavar="FILE", help="latents as .npy or .json")
        g.add_argument(
            "--random", nargs="+", type=int, metavar="DIM", help="standard normal z: N rows, or N LATENT"
        )

    def add_seed(p):
        p.add_argument(
            "--seed", type=int, default=0, help="row seeds SEED, SEED+1, ... (default: %(default)s)"
        )

    def add_temperature(p, default):
        p.add_argument("--temperature", type=float, default=default, help="one temperature for every row")

    for name, help_text in (("encode", "posterior parameters"), ("reconstruct", "reconstruction of x")):
        add_x(sub.add_parser(name, help=help_text))
    p = sub.add_parser("encode-sample", help="one draw of q(z|x) per row")
    add_x(p), add_seed(p)
    p = sub.add_parser("log-likelihood", help="importance-sampled log p(x) per row")
    add_x(p), add_seed(p)
    add_z(sub.add_parser("decode", help="likelihood parameters for z"))
    p = sub.add_parser("decode-sample", help="one draw of p(x|z) per row")
    add_z(p), add_seed(p), add_temperature(p, None)
    p = sub.add_parser("sample", help="one prior draw per row")
    add_seed(p), add_temperature(p, 1.0)
    p.add_argument("--num-rows", type=int, default=1, help="number of rows (default: %(default)s)")
    p = sub.add_parser("predict", help="any signature, inputs as JSON")
    p.add_argument("signature")
    p.add_argument(
        "--inputs",
        required=True,
        metavar="JSON",
        help='e.g. \'{"seed": [1, 2], "temperature": [1, 1]}\' or @FILE',
    )
    return parser


def _inner_shape(client: Any, signature: str, name: str) -> list[int] | None:
    shape = signature_inputs(client.specs(), signature)[name].shape
    return None if shape is None else shape[1:]


def _run(client: Any, args: argparse.Namespace) -> Any:
    cmd = args.command
    if cmd in ("status", "metadata"):
        return getattr(client, cmd)()
    if cmd == "sample":
        return client.sample(args.seed, args.temperature, num_rows=args.num_rows)
    if cmd == "predict":
        text = args.inputs
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as fh:
                text = fh.read()
        return client.predict(args.signature, json.loads(text))
    signature = cmd.replace("-", "_")
    if cmd in ("decode", "decode-sample"):
        z = _load_array(args.z, args.random, "z", 0, _inner_shape(client, signature, "z"))
        if cmd == "decode":
            return client.decode(z)
        return client.decode_sample(z, args.seed, args.temperature)
    if args.sentences:
        x: Any = list(args.sentences)
    else:
        x = _load_array(
            args.x, args.random, "x", 0, _inner_shape(client, signature, client._data_name(signature))
        )
    if cmd in ("encode", "reconstruct"):
        return getattr(client, cmd)(x)
    return getattr(client, signature)(x, args.seed)


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.grpc:
        client: Any = GrpcClient(args.grpc, args.model, timeout=args.timeout, version=args.version)
    else:
        client = RestClient(
            args.url, args.model, timeout=args.timeout, version=args.version, format=args.format
        )
    try:
        result = _run(client, args)
        if args.command not in ("status", "metadata"):
            result = _summarize(result, args.full)
    except (TFServingError, ValueError, OSError) as err:
        print(json.dumps({"error": str(err)}), file=sys.stderr)
        return 1
    finally:
        if args.grpc:
            client.close()
    print(json.dumps(result, indent=2))
    return 0
