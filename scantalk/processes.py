"""Stopping the child processes we start (broker, nodes), by their PID."""

from __future__ import annotations

import ctypes
import signal
import subprocess

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGTERM when the process that started it dies, even by
    SIGKILL, so a broker or node is never left running on its own (Linux). The signal follows
    the thread that started the child: start children from the main thread."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(
    process: subprocess.Popen, signal_first: signal.Signals = signal.SIGTERM, timeout: float = 15
) -> int:
    """`signal_first`, then SIGKILL if it has not exited within `timeout` s; returns its code."""
    if process.poll() is None:
        process.send_signal(signal_first)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def exit_status(returncode: int) -> str:
    """A `Popen.returncode` for a log line: `status 1`, or `status -9: SIGKILL`."""
    if returncode >= 0:
        return f"status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"status {returncode}: {name}"
