"""The `vae-zoo` console: TensorFlow's native INFO/WARNING lines hidden, everything else kept, and
nothing changed for a library user."""

import os
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest

from vae_zoo.utils import console

NATIVE_INFO = (
    b"I0000 00:00:1796321561.878907   14755 cudart_stub.cc:31] Could not find cuda drivers on your machine"
)
NATIVE_WARNING = b"W0000 00:00:1796321562.436917   14755 loader.cc:12] something native"
TF_FORMAT_INFO = b"2026-12-03 17:59:57.123456: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not"
ABSL_NOTICE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
CPU_GUARD_TAIL = (
    b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
    b"appropriate compiler flags."
)
CUINIT = (
    b"E0000 00:00:1796321201.900938   10025 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)"
)
REAL_ERROR = b"E0000 00:00:1796321201.900938   10025 saver.cc:80] could not write the checkpoint"
FATAL = b"F0000 00:00:1796321201.900938   10025 op_kernel.cc:9] Check failed: rank == 2"


@pytest.mark.parametrize(
    "line", [NATIVE_INFO, NATIVE_WARNING, TF_FORMAT_INFO, ABSL_NOTICE, CPU_GUARD_TAIL, CUINIT]
)
def test_native_info_and_warning_lines_are_dropped(line):
    assert console.is_native_log_line(line)
    assert console.is_native_log_line(line + b"\n")


@pytest.mark.parametrize(
    "line",
    [
        REAL_ERROR,
        FATAL,
        b"vae_zoo.training: wordnet_sentences [train]: 148220 sentences",
        b"WARNING:absl:Compiled the loaded model, but the compiled metrics have yet to be built.",
        b"/tmp/x.py:8: UserWarning: a python warning",
        b"Traceback (most recent call last):",
        b"Information about the run",  # begins with an I, is not a log line
        b"2026 was a good year",
    ],
)
def test_every_other_line_is_kept(line):
    assert not console.is_native_log_line(line)


def _filtered(chunks):
    """What `filter_stream` passes on when `chunks` are written to its pipe one by one."""
    read_end, write_end = os.pipe()
    out_read, out_write = os.pipe()
    thread = threading.Thread(target=console.filter_stream, args=(read_end, out_write))
    thread.start()
    for chunk in chunks:
        os.write(write_end, chunk)
    os.close(write_end)
    thread.join(timeout=10)
    os.close(out_write)
    received = b""
    while data := os.read(out_read, 65536):
        received += data
    os.close(read_end)
    os.close(out_read)
    return received


def test_filter_stream_keeps_bytes_and_order_of_what_it_passes():
    chunks = [
        ABSL_NOTICE + b"\n" + NATIVE_INFO[:20],  # a native line split across two writes
        NATIVE_INFO[20:] + b"\nour notice\n",
        REAL_ERROR + b"\n",
        b"Epoch 1/2 without a newline",  # an unfinished line that cannot be a log line: passed at once
        b"\n" + CPU_GUARD_TAIL + b"\nlast",
    ]
    assert _filtered(chunks) == b"our notice\n" + REAL_ERROR + b"\nEpoch 1/2 without a newline\nlast"


def test_the_environment_variable_keeps_the_console_as_it_is():
    assert console.quiet_native_logs(environ={console.SHOW_ENV: "1"}) is False


FAMILY_MODULE = textwrap.dedent(
    f"""
    import os, sys
    os.write(2, {NATIVE_INFO!r} + b"\\n")
    os.write(2, {REAL_ERROR!r} + b"\\n")
    print("our own notice", file=sys.stderr, flush=True)
    """
)


def _run_program(tmp_path, *flags, env=None, after=()):
    program = shutil.which("vae-zoo")
    if program is None:
        pytest.skip("the vae-zoo console script is not installed")
    module = tmp_path / "noisy_family.py"
    module.write_text(FAMILY_MODULE)
    env = {
        k: v for k, v in (env or os.environ).items() if k not in ("TF_CPP_MIN_LOG_LEVEL", console.SHOW_ENV)
    }
    return subprocess.run(
        [program, *flags, "--family-module", str(module), "presets", *after],
        capture_output=True,
        env=env,
        timeout=300,
    )


def test_the_program_hides_native_lines_and_keeps_errors_notices_and_output(tmp_path):
    result = _run_program(tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert b"dense_fashion_mnist" in result.stdout
    assert NATIVE_INFO not in result.stderr
    assert b"cudart_stub" not in result.stderr and b"absl::InitializeLog" not in result.stderr
    assert REAL_ERROR in result.stderr
    assert b"our own notice" in result.stderr


def test_tf_log_shows_the_native_lines(tmp_path):
    result = _run_program(tmp_path, after=["--tf-log"])  # a global flag, after the subcommand too
    assert result.returncode == 0, result.stderr.decode()
    assert NATIVE_INFO in result.stderr and REAL_ERROR in result.stderr


def test_importing_the_library_changes_no_logging_setting():
    probe = textwrap.dedent(
        """
        import logging, os, stat, sys
        before = stat.S_IFMT(os.fstat(2).st_mode)
        import vae_zoo
        import absl.logging
        print(before == stat.S_IFMT(os.fstat(2).st_mode), "TF_CPP_MIN_LOG_LEVEL" in os.environ,
              logging.getLogger("tensorflow").level, absl.logging.get_verbosity())
        """
    )
    baseline = textwrap.dedent(
        """
        import logging, os
        import tensorflow, tensorflow_probability, keras
        import absl.logging
        print(True, "TF_CPP_MIN_LOG_LEVEL" in os.environ, logging.getLogger("tensorflow").level,
              absl.logging.get_verbosity())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    outputs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        for code in (probe, baseline)
    ]
    for result in outputs:
        assert result.returncode == 0, result.stderr
    assert outputs[0].stdout == outputs[1].stdout
    assert outputs[0].stdout.startswith("True False")
