"""``tools/stack.sh``'s judgement of a running Milvus, against a stand-in for its REST port.

The e2e outage tests (tests/e2e/stack) meet these answers only when Milvus 2.3.5 happens to
end up in one state or the other after an etcd outage; here each answer is served on
purpose by a small HTTP server on the stack's health port, and the process ``up`` would
restart is a stand-in carrying Milvus's command line.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from stack_harness import Stack as HarnessStack

SERVING = '{"status":{}}'
# Recorded from Milvus 2.3.5 after etcd came back (tools/stack.py's docstrings say more).
NOT_READY = (
    '{"status":{"error_code":56,"reason":"service not ready[standalone=1]: Abnormal","code":1,'
    '"retriable":true,"detail":"service not ready[standalone=1]: Abnormal"}}'
)
# The other state: up and "healthy", but the coordinators never came back. pymilvus showed
# this reason; the body has the same shape as the recorded one above.
NO_ROOTCOORD = (
    '{"status":{"error_code":65535,"reason":"empty grpc client: find no available rootcoord, '
    'check rootcoord state","code":65535}}'
)


class FakeMilvusRest:
    """Answers ``/api/v1/collections`` with the next body of a script (the last one repeats)."""

    def __init__(self, bodies: list[str]) -> None:
        self.bodies = list(bodies)
        self.calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/api/v1/health":
                    code, body = 200, '{"status":"ok"}'
                else:
                    code, body = 200, fake.bodies[min(fake.calls, len(fake.bodies) - 1)]
                    fake.calls += 1
                if body.startswith("HTTP "):
                    code, body = int(body[5:]), "no"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tool_stack(tmp_path: Path):
    """tools/stack.py and a Stack on tmp_path whose Milvus is a stand-in process."""
    tool, stack = HarnessStack(tmp_path)._tool()
    stack.milvus_dir.mkdir(parents=True)
    # `Stack.pid` accepts a live process with Milvus's command line in Milvus's folder. The
    # stand-in is `sleep` itself under that name: its command line is the marker from its exec
    # on (a `bash -c "exec -a ..."` one had the marker before its exec too, so a check during
    # the exec saw no process). Right after the exec, /proc may still show it empty: wait.
    proc = subprocess.Popen(
        ["milvus run standalone", "120"], executable=shutil.which("sleep"), cwd=stack.milvus_dir
    )
    stack.pid_file("milvus").parent.mkdir(parents=True, exist_ok=True)
    stack.pid_file("milvus").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10
    while stack.pid("milvus") is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert stack.pid("milvus") == proc.pid
    yield tool, stack
    proc.kill()
    proc.wait()


@contextlib.contextmanager
def answering(stack, bodies: list[str]) -> Iterator[FakeMilvusRest]:
    fake = FakeMilvusRest(bodies)
    stack.ports = {"milvus_health": fake.port, "milvus": fake.port, "etcd": 1, "s3": 1}
    try:
        yield fake
    finally:
        fake.close()


def test_a_serving_milvus_is_kept(tool_stack):
    tool, stack = tool_stack
    with answering(stack, [SERVING]) as fake:
        assert tool.milvus_serving(stack) == (True, "")
        assert tool.milvus_restart_reason(stack, etcd_restarted=False, patience=5) == ""
        assert fake.calls == 2


def test_service_not_ready_is_restarted_at_once(tool_stack):
    tool, stack = tool_stack
    with answering(stack, [NOT_READY]) as fake:
        reason = tool.milvus_restart_reason(stack, etcd_restarted=False, patience=30)
        assert "lost its etcd sessions" in reason and "service not ready" in reason
        assert fake.calls == 1  # asked once: no patience for what never heals
        assert tool.milvus_lost_sessions(stack)


def test_healthy_but_not_serving_is_restarted_after_its_patience(tool_stack):
    """The 4-worker suite run's failure: `/api/v1/health` ok, every call "no rootcoord".

    ``up`` used to restart only on "service not ready", so this Milvus was left as it was
    and the service answered 503 until the test gave up.
    """
    tool, stack = tool_stack
    with answering(stack, [NO_ROOTCOORD]) as fake:
        assert tool.milvus_healthy(stack)[0]  # what the old check looked at
        assert not tool.milvus_lost_sessions(stack)
        ok, why = tool.milvus_serving(stack)
        assert not ok and "find no available rootcoord" in why
        reason = tool.milvus_restart_reason(stack, etcd_restarted=False, patience=1.0, interval=0.05)
        assert reason.startswith("it does not serve (") and "rootcoord" in reason
        assert fake.calls >= 3  # it asked again during its patience


@pytest.mark.parametrize(
    "transient",
    ["HTTP 503", "not json", '{"status":"oops"}', NO_ROOTCOORD],
    ids=["http-503", "not-json", "odd-status", "no-rootcoord"],
)
def test_a_transient_failure_that_clears_is_not_restarted(tool_stack, transient):
    tool, stack = tool_stack
    with answering(stack, [transient, transient, SERVING]) as fake:
        assert tool.milvus_serving(stack)[0] is False
        assert tool.milvus_restart_reason(stack, etcd_restarted=False, patience=30, interval=0.05) == ""
        assert fake.calls == 3


def test_etcd_restarted_under_milvus_restarts_it_without_asking(tool_stack):
    tool, stack = tool_stack
    with answering(stack, [SERVING]) as fake:
        assert tool.milvus_restart_reason(stack, etcd_restarted=True) == "etcd was restarted under it"
        assert fake.calls == 0


def test_status_reports_a_milvus_that_does_not_serve(tool_stack, capsys):
    tool, stack = tool_stack
    with answering(stack, [NO_ROOTCOORD]):
        assert tool.status(stack) == 1
    line = [row for row in capsys.readouterr().out.splitlines() if "/api/v1/collections" in row][0]
    assert line.startswith("milvus  DOWN") and "not serving: empty grpc client" in line
