"""A quiet console for the `vae-zoo` command: TensorFlow's C++ log lines kept out of a user's view.

TensorFlow's native libraries write INFO and WARNING lines straight to file
descriptor 2 ("I0000 00:00:... cudart_stub.cc:31] Could not find cuda
drivers ...", "WARNING: All log messages before absl::InitializeLog() ...",
"... cpu_feature_guard.cc ... rebuild TensorFlow with the appropriate compiler
flags"), some of them before `TF_CPP_MIN_LOG_LEVEL` is read
(tensorflow/tensorflow#100442), so no Python logging setting or environment
variable removes them all. `quiet_native_logs()` therefore routes descriptor 2
through a small filter process (this file run as a script: it imports neither
vae_zoo nor TensorFlow) that drops exactly those lines and passes every other
byte on unchanged: our own notices, Python warnings and tracebacks, and the C++
ERROR and FATAL lines (`E...`, `F...`), which are real errors. Keras's progress
bar writes to standard output, which is not touched.

The filter runs in its own session (Ctrl-C reaches the command, not the
filter) and drains its pipe until every writer has closed it, so nothing
written before a crash is lost; child processes (workers) inherit the
filtered descriptor. Only the `vae-zoo` program calls this (from `vae_zoo/__init__.py`, when the
process is its console script, so that it runs before TensorFlow loads): importing vae_zoo as a
library changes no logging setting and no descriptor. `vae-zoo --tf-log ...` or `VAE_ZOO_TF_LOG=1`
shows the native log lines.
"""

import atexit
import os
import re
import subprocess
import sys

#: the environment variable that keeps TensorFlow's native log lines (any value but "", "0")
SHOW_ENV = "VAE_ZOO_TF_LOG"

#: a native INFO or WARNING line: absl's "I0000 00:00:1796321176.752945  123 file.cc:31] ..." and TensorFlow's
#: "2026-12-03 17:59:57.123: W external/.../file.cc:31] ..."; ERROR (E) and FATAL (F) lines are kept
_NATIVE_LINE = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] )\S+:\d+\] "
)
#: lines with no prefix of their own: absl's notice, and the continuation of cpu_feature_guard's INFO line
_NATIVE_NOTICES = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"To enable the following instructions:",
)


#: ERROR lines that every run on a machine without a usable GPU (or with two copies of the CUDA
#: plugins) prints and that change nothing: TensorFlow then runs on the CPU, and `vae-zoo train`'s
#: first notice names the devices it trains on (tensorflow/tensorflow#62075, #100442)
_HARMLESS_ERRORS = re.compile(
    rb"^E\d{4} [\d:. ]+\d+ (?:cuda_platform\.cc:\d+\] failed call to cuInit"
    rb"|cuda_(?:dnn|blas|fft)\.cc:\d+\] Unable to register cu\w+ factory)"
)


def is_native_log_line(line):
    """Whether `line` (bytes, with or without its newline) is a native TensorFlow INFO/WARNING line
    (or one of the harmless ERROR lines of a machine without a GPU)."""
    return bool(_NATIVE_LINE.match(line) or _HARMLESS_ERRORS.match(line)) or line.startswith(_NATIVE_NOTICES)


def _could_become_native(partial):
    """Whether an unfinished line may still turn out to be one `is_native_log_line` drops (so it
    waits for its newline; any other unfinished text is passed on at once)."""
    if not partial:
        return False
    if partial[:1] in b"IW" and re.match(rb"^[IW][\d :.]*$", partial[:30]):
        return True
    if re.match(rb"^\d[\d\- :.]*$", partial[:30]):
        return True
    return any(n.startswith(partial[: len(n)]) or partial.startswith(n) for n in _NATIVE_NOTICES)


def filter_stream(source_fd, target_fd):
    """Copies `source_fd` to `target_fd` until end of file, leaving out native INFO/WARNING lines."""
    pending = b""
    while True:
        chunk = os.read(source_fd, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_native_log_line(line))
        if pending and not _could_become_native(pending):
            kept, pending = kept + pending, b""
        if kept:
            os.write(target_fd, kept)
    if pending and not is_native_log_line(pending):
        os.write(target_fd, pending)


def quiet_native_logs(environ=None):
    """Routes this process's descriptor 2 through the filter process, unless `VAE_ZOO_TF_LOG` asks for
    the native lines. Call it before TensorFlow is imported. Returns whether the filter was installed."""
    environ = os.environ if environ is None else environ
    if environ.get(SHOW_ENV, "") not in ("", "0"):
        return False
    try:
        original = os.dup(2)
        process = subprocess.Popen(
            [sys.executable, "-S", "-E", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=original,
            stderr=original,
            start_new_session=True,  # Ctrl-C stops the command, which then closes the pipe
            close_fds=True,
        )
    except OSError:  # no descriptor 2, no interpreter to start: leave the console as it is
        return False
    sys.stderr.flush()
    os.dup2(process.stdin.fileno(), 2)
    process.stdin.close()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)  # the last writer of this process closed: the filter drains and ends
        os.close(original)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a child still holds the pipe; the filter ends with it
            pass

    atexit.register(restore)
    return True


if __name__ == "__main__":  # the filter process
    filter_stream(0, 1)
