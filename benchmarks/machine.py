"""The machine a benchmark ran on, recorded beside its results (issue 27, item 5).

`machine()` returns `{"cpu": model name, "avx512": bool, "avx512_bf16": bool, "amx": bool, "cores": n}`
read from `lscpu` (or from /proc/cpuinfo when `lscpu` is missing or fails); `avx512` is the `avx512f`
flag, `avx512_bf16` the bfloat16 dot products (which oneDNN and OpenVINO use for bfloat16 without AMX),
`amx` is `amx_tile` or `amx_bf16`. `describe()` is the same as one line for a table's heading.
"""

import os
import subprocess


def _lscpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields.get("Model name"), fields.get("Flags")


def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return None, None
    model = flags = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key == "model name" and model is None:
            model = value.strip()
        elif sep and key in ("flags", "Features") and flags is None:
            flags = value.strip()
    return model, flags


def machine():
    """The CPU's model name, whether it has AVX-512 (avx512f) and AMX (amx_tile/amx_bf16), the cores."""
    model, flags = _lscpu()
    if model is None or flags is None:
        info_model, info_flags = _cpuinfo()
        model = model or info_model
        flags = flags or info_flags
    flag_set = set((flags or "").split())
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count()
    return {
        "cpu": model or "unknown",
        "avx512": "avx512f" in flag_set,
        "avx512_bf16": "avx512_bf16" in flag_set,
        "amx": bool(flag_set & {"amx_tile", "amx_bf16"}),
        "cores": cores,
    }


def describe(info=None):
    """One line: 'CPU: <model>, <n> cores, AVX-512 yes/no, AVX512_BF16 yes/no, AMX yes/no'."""
    info = info or machine()
    yes_no = {True: "yes", False: "no"}
    return (
        f"CPU: {info['cpu']}, {info['cores']} cores, "
        f"AVX-512 {yes_no[info['avx512']]}, AVX512_BF16 {yes_no[info.get('avx512_bf16', False)]}, "
        f"AMX {yes_no[info['amx']]}"
    )


if __name__ == "__main__":
    print(describe())
