"""Which Milvus errors mean "cannot serve right now" (503), not "the request was wrong".

Each call's exception is asked, most reliable first: pymilvus' connection exception types;
the grpc status of a raw grpc error; the server's status (a "not ready" code, or a status
the server marks retriable and not the caller's fault); the code pymilvus and Milvus both
use for "unavailable". Only then the words, for errors that carry nothing better (Milvus
2.3 wraps a dead coordinator's error into the catch-all code 65535). Every known text is in
``OUTAGE_TEXTS`` below, with where it was seen.
"""

from __future__ import annotations

# Server status codes (``MilvusException.code``, Milvus' merr codes) that mean unavailable.
# 2 is also what pymilvus itself raises when it cannot connect (Status.CONNECT_FAILED).
UNAVAILABLE_CODES = frozenset({2})  # merr.ErrServiceUnavailable / pymilvus CONNECT_FAILED

# Legacy status codes (``MilvusException.compatible_code``, common.ErrorCode) that the server
# alone sets: it is up but not serving. Code 1 (merr.ErrServiceNotReady) cannot tell on its
# own: pymilvus raises its own errors with code 1 (UNEXPECTED_ERROR) too.
NOT_READY_COMPATIBLE_CODES = frozenset({56, 57})  # NotReadyServe, NotReadyCoordActivating

# What pymilvus, grpc and Milvus say, in words, when Milvus cannot serve: matched as
# substrings of the exception's text. The stack outage tests (tests/e2e/stack/
# test_stack_outages.py) log every one they meet in test-output/stack-service.log.
OUTAGE_TEXTS = (
    # pymilvus, Milvus process down or restarting (code 2; Milvus SIGKILL and `stack.sh up`)
    "Fail connecting to server",
    "server unavailable",
    # pymilvus' retry decorator giving up, or the proxy's own: "[query] Retry timeout: 10s,
    # message=proxy TaskCondition context Done" (code 65535; etcd SIGKILL, Milvus riding it out)
    "Retry timeout",
    # grpc, when the status is only in the text (Milvus SIGKILL)
    "UNAVAILABLE",
    "Deadline Exceeded",  # etcd SIGKILL: calls hang until the store timeout
    "closed channel",  # a client closed while a call was in flight (reconnect)
    # Milvus 2.3 while a coordinator restarts (code 65535; etcd SIGKILL, Milvus restart):
    # "empty grpc client: failed to connect 192.0.2.2:N ... connection refused",
    # "empty grpc client: find no available querycoord, check querycoord state"
    "empty grpc client",
    "find no available",
    "connection refused",
    "is not ready",  # "proxy is not ready" (2.3 proxy at start)
    # Milvus 2.3.5's proxy while its clients to the coordinators are torn down and redialled
    # (code 65535; etcd SIGKILL, seen once in CI as a 500): "attempt #2: rpc error: code =
    # Canceled desc = grpc: the client connection is closing"
    "the client connection is closing",
    # Milvus 2.3.5 after losing its etcd sessions (etcd SIGKILL for ~45 s, then etcd back):
    # "service not ready[standalone=4]: Abnormal" (code 1, compatible_code 56, retriable);
    # the codes decide, the text covers a pymilvus that does not carry them
    "service not ready",
)


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "Milvus cannot serve now", not "the request was wrong"."""
    import grpc
    from pymilvus.exceptions import (
        ConnectionConfigException,
        ConnectionNotExistException,
        MilvusException,
        MilvusUnavailableException,
    )

    if isinstance(exc, (MilvusUnavailableException, ConnectionNotExistException, ConnectionConfigException)):
        return True
    code = exc.code() if isinstance(exc, grpc.RpcError) else getattr(exc, "code", None)
    if isinstance(code, grpc.StatusCode):  # the transport's own verdict decides
        return code in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.CANCELLED,
        )
    if isinstance(exc, MilvusException) and _server_says_unavailable(exc):
        return True
    text = str(exc)
    return any(marker in text for marker in OUTAGE_TEXTS)


def _server_says_unavailable(exc: BaseException) -> bool:
    """The status codes of a ``MilvusException``: not ready, unavailable, or "retry, not your fault"."""
    if getattr(exc, "code", None) in UNAVAILABLE_CODES:
        return True
    if getattr(exc, "compatible_code", None) in NOT_READY_COMPATIBLE_CODES:
        return True
    # pymilvus >= 2.6 carries the server's own classification (Milvus 2.3.5 sets it).
    return bool(getattr(exc, "retriable", False)) and not getattr(exc, "is_input_error", False)


def is_not_loaded(exc: BaseException) -> bool:
    """True when the collection exists but is not loaded (a restarted server may forget it).

    Milvus 2.3.5: code 101, "failed to search: collection not loaded[collection=N]" (seen
    after every Milvus restart in the stack outage tests).
    """
    text = str(exc).lower()
    return "not loaded" in text or "collection not load" in text
