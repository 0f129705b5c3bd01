"""Command line for :mod:`serving.client` (``python -m serving.client --help``).

Prints JSON summaries of the model status, metadata and signature outputs,
over REST (default) or gRPC (``--grpc HOST:PORT``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping

import numpy as np

from .common import DEFAULT_MODEL_NAME, DEFAULT_REST_URL, TFServingError
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
        if full or arr.size <= 16:
            info["values"] = arr.tolist() if arr.dtype != object else [repr(v) for v in arr.ravel()]
        out[name] = info
    return out


def _load_array(path: str | None, random_shape: list[int] | None, kind: str, seed: int) -> np.ndarray:
    if path:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                return np.asarray(json.load(fh), dtype=np.float32)
        return np.load(path).astype(np.float32)
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
    parser.add_argument("--full", action="store_true", help="print all values, not just summaries")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="model version status")
    sub.add_parser("metadata", help="signature definitions")

    def add_x(p):
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--x", metavar="FILE", help="inputs as .npy or .json")
        g.add_argument("--random", nargs="+", type=int, metavar="DIM", help="uniform random x of this shape, e.g. 2 28 28 1")

    def add_seed(p):
        p.add_argument("--seed", nargs=2, type=int, default=[0, 0], metavar=("A", "B"))

    p = sub.add_parser("encode", help="posterior parameters and z")
    add_x(p), add_seed(p)
    p = sub.add_parser("reconstruct", help="reconstruction of x")
    add_x(p), add_seed(p)
    p = sub.add_parser("log-likelihood", help="importance-sampled log p(x)")
    add_x(p), add_seed(p)
    p.add_argument("--num-samples", type=int, default=100)
    p = sub.add_parser("decode", help="likelihood parameters for z")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--z", metavar="FILE", help="latents as .npy or .json")
    g.add_argument("--random", nargs=2, type=int, metavar=("N", "LATENT"), help="standard normal z of shape N x LATENT")
    p.add_argument("--format", choices=("columnar", "row"), default="columnar", help="REST body format")
    p = sub.add_parser("sample", help="draw samples")
    p.add_argument("--num-samples", type=int, default=4)
    add_seed(p)
    p.add_argument("--temperature", type=float, default=1.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.grpc:
        client: Any = GrpcClient(args.grpc, args.model, timeout=args.timeout, version=args.version)
    else:
        client = RestClient(args.url, args.model, timeout=args.timeout, version=args.version)
    try:
        cmd = args.command
        if cmd in ("status", "metadata"):
            result: Any = getattr(client, cmd)()
        elif cmd == "sample":
            result = _summarize(client.sample(args.num_samples, args.seed, args.temperature), args.full)
        elif cmd == "decode":
            z = _load_array(args.z, args.random, "z", 0)
            if args.grpc:
                outputs = client.decode(z)
            else:
                outputs = client.decode(z, format=args.format)
            result = _summarize(outputs, args.full)
        else:
            x = _load_array(args.x, args.random, "x", 0)
            if cmd == "encode":
                outputs = client.encode(x, args.seed)
            elif cmd == "reconstruct":
                outputs = client.reconstruct(x, args.seed)
            else:
                outputs = client.log_likelihood(x, args.num_samples, args.seed)
            result = _summarize(outputs, args.full)
    except (TFServingError, ValueError) as err:
        print(json.dumps({"error": str(err)}), file=sys.stderr)
        return 1
    finally:
        if isinstance(client, GrpcClient):
            client.close()
    print(json.dumps(result, indent=2))
    return 0

