"""Where one training step's time goes: a per-op profile of `model.fit`, in categories.

For DenseVAE(latent_dim=32) (784-512-256-32) and ConvVAE(latent_dim=32), at
batch 128 and 1024, XLA off and on (`compile(jit_compile=...)`), float32 and
bfloat16 (`mixed_bfloat16`), each setting in its own process (so policies do not
leak): `fit` at the model's defaults (`steps_per_execution=32`; ConvVAE with XLA
at 1, since its convolution gradients inside XLA's loop take over a second per
step) on dynamically binarized Fashion-MNIST (`vae_zoo.datasets.load`). Each process

1. warms up (one execution: tracing, XLA compilation);
2. times `fit` without the profiler (wall clock, best of 2) -> ms/step;
3. runs `fit` again with TensorFlow's profiler on for whole executions only
   (started and stopped from a callback, so iterator creation and teardown are
   outside the trace), and parses the `.xplane.pb` it writes.

Parsing (`benchmarks/trace_categories.py`): each thread's events nest by time and each
event's self time goes to one category (details there).

Every result records the CPU's model and flags (`benchmarks/machine.py`), and the table
starts with them. Shares are of the busy thread time of the profiled steps, summed over threads
(on 2 cores up to twice the wall time). `--reparse` parses saved traces again.

    python benchmarks/profile_step.py                        # all 16 settings, the table
    python benchmarks/profile_step.py --models conv --batches 128 --top 12   # plus each setting's top ops
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from trace_categories import CATEGORIES, analyze  # noqa: E402

LABELS = {
    "fwd": "products fwd",
    "bwd": "products bwd",
    "elementwise": "elementwise",
    "rng": "RNG",
    "optimizer": "optimizer",
    "input": "tf.data",
    "host": "host/dispatch",
    "other": "other",
}


# ----------------------------------------------------------------------------------------------
# The measurement (one setting per process)
# ----------------------------------------------------------------------------------------------


def measure(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    import vae_zoo
    from machine import machine
    from vae_zoo import datasets

    if args.dtype == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    data = datasets.load(
        "fashion_mnist", binarize="dynamic", batch_size=args.batch, drop_remainder=True, verbose=False
    ).repeat()
    if args.model == "dense":
        model = vae_zoo.models.DenseVAE(input_shape=(28, 28, 1), latent_dim=32, seed=0)
    else:
        model = vae_zoo.models.ConvVAE((28, 28, 1), latent_dim=32, seed=0)
    # XLA's convolution gradients on this CPU take seconds per step (see the table), so ConvVAE with
    # XLA runs one step per execution here, to keep the run short; every other setting is at the default.
    slow = args.model == "conv" and args.xla == "on"
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=args.xla == "on",
        **({"steps_per_execution": 1} if slow else {}),
    )
    spe = int(model.steps_per_execution)

    def timed_fit(steps, **kwargs):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, **kwargs)
        return (time.perf_counter() - start) / steps

    warm = timed_fit(spe) * spe  # tracing / compilation
    best = timed_fit(spe)
    executions = max(1, min(8, round(args.seconds / (best * spe))))
    for _ in range(2 if best * spe * executions < args.seconds * 2 else 1):
        best = min(best, timed_fit(spe * executions))

    profiled = max(1, min(4, round(args.seconds / 2 / (best * spe))))

    class Window(keras.callbacks.Callback):
        """Traces executions 2 .. profiled + 1 of the fit (Keras calls batch hooks once per execution)."""

        def __init__(self):
            super().__init__()
            self.calls, self.started = 0, None

        def on_train_batch_end(self, batch, logs=None):
            self.calls += 1
            if self.calls == 1:
                tf.profiler.experimental.start(args.logdir)
                self.started = time.perf_counter()
            elif self.calls == profiled + 1:
                self.wall = time.perf_counter() - self.started
                tf.profiler.experimental.stop()

    window = Window()
    timed_fit(spe * (profiled + 1), callbacks=[window])
    steps = spe * profiled
    result = {
        "model": args.model,
        "batch": args.batch,
        "xla": args.xla,
        "dtype": args.dtype,
        "spe": spe,
        "ms_per_step": best * 1e3,
        "timed_steps": spe * executions,
        "warmup_seconds": warm,
        "profiled_steps": steps,
        "profiled_ms_per_step": window.wall / steps * 1e3,
        "machine": machine(),
    }
    print("RESULT " + json.dumps(categorize(result, args.logdir, args.top)), flush=True)


def categorize(result, logdir, top):
    """`result` with the categories of the trace in `logdir` (per profiled step) and its `top` ops."""
    steps = result["profiled_steps"]
    totals, ops = analyze(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[-1])
    result["wait_ms_per_step"] = totals.pop("wait") / 1e9 / steps
    result["thread_ms_per_step"] = {k: v / 1e9 / steps for k, v in totals.items()}
    result["top_ops"] = [(name, cat, ps / 1e9 / steps) for (name, cat), ps in ops.most_common(top)]
    return result


# ----------------------------------------------------------------------------------------------
# The driver: one process per setting, then the table
# ----------------------------------------------------------------------------------------------


def table(results):
    head = (
        "| model | batch | XLA | dtype | steps/exec | ms/step | busy thread-ms/step | "
        + " | ".join(LABELS[c] for c in CATEGORIES)
        + " |"
    )
    from machine import describe

    machines = {describe(r["machine"]) if "machine" in r else "CPU not recorded" for r in results}
    lines = ["; ".join(sorted(machines)) + "\n", head, "|" + "---|" * (7 + len(CATEGORIES))]
    for r in results:
        per = r["thread_ms_per_step"]
        total = sum(per.values())
        shares = " | ".join(f"{100 * per[c] / total:.0f}%" for c in CATEGORIES)
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['xla']} | {r['dtype']} | {r['spe']} "
            f"| {r['ms_per_step']:.2f} | {total:.2f} | {shares} |"
        )
    return "\n".join(lines)


def _logdir(out, model, batch, xla, dtype):
    return os.path.join(out, f"{model}_{batch}_{xla}_{dtype}")


def _report(r):
    per = r["thread_ms_per_step"]
    print(
        f"{r['model']} batch {r['batch']} XLA {r['xla']} {r['dtype']}: {r['ms_per_step']:.2f} ms/step "
        f"(profiled {r['profiled_ms_per_step']:.2f}, waits {r['wait_ms_per_step']:.2f}), "
        "busy thread-ms per step: " + ", ".join(f"{c} {per[c]:.2f}" for c in CATEGORIES),
        flush=True,
    )
    for name, category, ms in r["top_ops"]:
        print(f"    {ms:8.3f} ms/step  {category:11s} {name}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="dense,conv")
    parser.add_argument("--batches", default="128,1024")
    parser.add_argument("--xla", default="off,on")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--seconds", type=float, default=4.0, help="target length of the timed fits")
    parser.add_argument("--top", type=int, default=0, help="print each setting's N most expensive ops")
    parser.add_argument("--out", default="/tmp/vae_zoo_profile", help="where the traces go (replaced)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--reparse", metavar="JSON", help="parse the traces under --out again for the results in JSON"
    )
    parser.add_argument("--one", nargs=4, metavar=("MODEL", "BATCH", "XLA", "DTYPE"), help=argparse.SUPPRESS)
    parser.add_argument("--logdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.model, args.batch, args.xla, args.dtype = args.one[0], int(args.one[1]), args.one[2], args.one[3]
        return measure(args)
    if args.reparse:
        with open(args.reparse) as f:
            results = [
                categorize(r, _logdir(args.out, r["model"], r["batch"], r["xla"], r["dtype"]), args.top)
                for r in json.load(f)
            ]
        for r in results:
            _report(r)
        print("\n" + table(results))
        return
    shutil.rmtree(args.out, ignore_errors=True)
    results = []
    settings = [
        (m, b, x, d)
        for m in args.models.split(",")
        for b in args.batches.split(",")
        for x in args.xla.split(",")
        for d in args.dtypes.split(",")
    ]
    for model, batch, xla, dtype in settings:
        logdir = _logdir(args.out, model, batch, xla, dtype)
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--one",
            model,
            batch,
            xla,
            dtype,
            "--logdir",
            logdir,
            "--seconds",
            str(args.seconds),
            "--top",
            str(args.top),
        ]
        run = subprocess.run(command, capture_output=True, text=True, cwd=os.path.dirname(HERE))
        lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
        if run.returncode or not lines:
            print(f"{model} {batch} {xla} {dtype} failed:\n{run.stderr[-3000:]}", file=sys.stderr)
            continue
        results.append(json.loads(lines[-1][len("RESULT ") :]))
        _report(results[-1])
    print("\n" + table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
