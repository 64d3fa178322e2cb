"""Idle connections held open by other processes: the attack of issue 21, for tests and bench/.

:class:`IdleSockets` starts ``processes`` child Pythons that each raise their open-files
limit, start non-blocking connects to ``host:port`` as fast as they can, and then hold every
socket, sending nothing. Each child answers one line of JSON per command on its stdin:
``count`` -> ``{"opened", "established", "closed_by_server"}``; ``exit`` closes its
sockets with a reset (no TIME_WAIT left behind) and ends it.
:func:`soft_open_files_limit` starts a service under the common 1,024 soft limit.
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

CHILD = r"""
import json, resource, select, socket, struct, sys, time

host, port, n, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks, pending = [], {}
for _ in range(n):
    try:
        s = socket.socket()
    except OSError:
        break
    s.setblocking(False)
    s.connect_ex((host, port))
    socks.append(s)
    pending[s.fileno()] = s
poller = select.poll()
for fd in pending:
    poller.register(fd, select.POLLOUT)
established = set()
deadline = time.monotonic() + wait
while pending and time.monotonic() < deadline:
    for fd, _ in poller.poll(100):
        s = pending.pop(fd)
        poller.unregister(fd)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            established.add(fd)


def closed(s):
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


for line in sys.stdin:
    if line.strip() == "count":
        gone = sum(closed(s) for s in socks if s.fileno() in established)
        print(json.dumps({"opened": len(socks), "established": len(established), "closed_by_server": gone}))
        sys.stdout.flush()
    else:
        break
for s in socks:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
"""


class IdleSockets:
    """``n`` idle connections to ``host:port``, held by ``processes`` other processes."""

    def __init__(self, host: str, port: int, n: int, processes: int = 1, connect_wait: float = 5.0) -> None:
        self.host, self.port, self.n, self.processes, self.connect_wait = (
            host,
            port,
            n,
            processes,
            connect_wait,
        )
        self.children: list[subprocess.Popen[str]] = []

    def __enter__(self) -> IdleSockets:
        share = -(-self.n // self.processes)
        for i in range(self.processes):
            count = min(share, self.n - i * share)
            args = [self.host, str(self.port), str(count), str(self.connect_wait)]
            self.children.append(
                subprocess.Popen(
                    [sys.executable, "-c", CHILD, *args],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        self.count()  # every child has finished connecting
        return self

    def count(self) -> dict[str, int]:
        """Sockets opened, established, and closed by the server since, over all children."""
        total = {"opened": 0, "established": 0, "closed_by_server": 0}
        for child in self.children:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("count\n")
            child.stdin.flush()
            answer: dict[str, Any] = json.loads(child.stdout.readline())
            for key in total:
                total[key] += answer[key]
        return total

    def __exit__(self, *exc: object) -> None:
        for child in self.children:
            with contextlib.suppress(OSError, ValueError):  # a child that already ended
                assert child.stdin is not None
                child.stdin.write("exit\n")
                child.stdin.close()
        for child in self.children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()


@contextlib.contextmanager
def soft_open_files_limit(limit: int) -> Iterator[None]:
    """Children started inside inherit an open-files soft limit of ``limit`` (the hard one stays)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
