"""Milvus errors as pymilvus raises them, for the tests of what counts as an outage.

``server_error`` builds a ``MilvusException`` the way pymilvus does from a server's answer
(``MilvusException.from_status`` in ``pymilvus.client.utils.check_status``), so the code,
the compatible code and the retriable flag are the ones a real answer carries.
"""

from __future__ import annotations

import grpc
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen import common_pb2


class RpcFailure(grpc.RpcError):
    """A grpc error as the channel raises it: the status is in ``code()``."""

    def __init__(self, code: grpc.StatusCode, text: str = "") -> None:
        super().__init__(text)
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def server_error(
    code: int, reason: str, error_code: int = 1, *, retriable: bool = False, input_error: bool = False
) -> MilvusException:
    """The exception pymilvus raises for a server status (``error_code``: the legacy code)."""
    status = common_pb2.Status(code=code, reason=reason, error_code=error_code, retriable=retriable)
    if input_error:
        status.extra_info["is_input_error"] = "true"
    return MilvusException.from_status(status)


# Milvus 2.3.5 after it lost its etcd sessions (etcd SIGKILLed for ~45 s under load, then
# restarted alone): every call, read or write, and the client's connect, answer this.
SERVICE_NOT_READY = dict(
    code=1, reason="service not ready[standalone=4]: Abnormal", error_code=56, retriable=True
)
