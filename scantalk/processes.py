"""Stopping the child processes we start (broker, nodes), by their PID."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, timeout: float = 15) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; returns its code."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
