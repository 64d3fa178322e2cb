"""Free loopback ports and process-group stops, for the servers tests and tools start.

Every server here (Milvus, SeaweedFS, Ray, ``bentoml serve``, the stack) runs in its own
session on ports chosen free, beside other people's, and is stopped by signalling its
process group only, never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess

__all__ = ["free_port", "free_ports", "port_is_free", "stop_group"]


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: every socket is held until all are chosen."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def port_is_free(port: int) -> bool:
    """Whether ``port`` can be bound on loopback now."""
    with socket.socket() as sock:
        # like Go's listeners: a port in TIME_WAIT after our own stop() counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop_group(proc: subprocess.Popen[bytes], timeout: float, kill_timeout: float = 10.0) -> None:
    """SIGTERM ``proc``'s process group (its own session), SIGKILL after ``timeout`` s; reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: only what we started
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=kill_timeout)
