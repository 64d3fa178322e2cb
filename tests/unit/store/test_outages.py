"""Which errors mean "Milvus cannot serve now" (503 ``store_unavailable``) and which are the request's.

The exceptions are built as pymilvus raises them (``milvus_errors.server_error`` goes through
``MilvusException.from_status``); the codes and texts are the ones the stack outage tests
met (tests/e2e/stack/test_stack_outages.py).
"""

from __future__ import annotations

import grpc
import pytest
from milvus_errors import SERVICE_NOT_READY, RpcFailure, server_error
from pymilvus.exceptions import (
    ConnectionConfigException,
    ConnectionNotExistException,
    MilvusException,
    MilvusUnavailableException,
    ParamError,
)

from clipvec.store.outages import OUTAGE_TEXTS, is_not_loaded, is_unavailable


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED]
)
def test_grpc_outage_codes_are_unavailable(code):
    assert is_unavailable(RpcFailure(code))


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL],
)
def test_other_grpc_codes_are_request_errors(code):
    # The status code decides, even when the text looks like an outage.
    assert not is_unavailable(RpcFailure(code, "connection refused"))


@pytest.mark.parametrize(
    "exc",
    [
        MilvusUnavailableException(message="down"),
        ConnectionNotExistException(message="no connection"),
        ConnectionConfigException(message="bad uri"),
    ],
)
def test_pymilvus_connection_errors_are_unavailable(exc):
    assert is_unavailable(exc)


# ---------------------------------------------------------------------- the server's status
def test_service_not_ready_after_an_etcd_outage_is_unavailable():
    """Issue 21 item 5: this answer gave 500s on /add_image and search."""
    exc = server_error(**SERVICE_NOT_READY)
    assert (exc.code, exc.compatible_code, exc.retriable) == (1, 56, True)
    assert is_unavailable(exc)


@pytest.mark.parametrize(
    "status",
    [
        # the legacy "not ready" codes decide, whatever the words
        dict(code=1, reason="standalone=4: Abnormal", error_code=56),  # NotReadyServe
        dict(code=1, reason="coordinator is activating", error_code=57),  # NotReadyCoordActivating
        # merr.ErrServiceUnavailable
        dict(code=2, reason="proxy is shutting down"),
        # the server says: try again, it is not your request
        dict(code=65535, reason="channel not available", retriable=True),
    ],
)
def test_server_statuses_that_mean_unavailable(status):
    assert is_unavailable(server_error(**status))


def test_the_words_alone_still_count_when_the_codes_are_missing():
    # An older pymilvus carries no compatible code nor retriable flag: the text decides.
    assert is_unavailable(MilvusException(code=1, message="service not ready[standalone=4]: Abnormal"))


@pytest.mark.parametrize(
    "exc",
    [
        server_error(1100, "invalid parameter: the filter is wrong", 5),
        server_error(100, "collection not found[collection=images]", 4),
        # retriable but the caller's fault: not an outage
        server_error(1100, "bad", retriable=True, input_error=True),
        MilvusException(message="unexpected error"),  # pymilvus' own code 1 (UNEXPECTED_ERROR)
        ParamError(message="`limit` value 0 is illegal"),
        ValueError("dimension mismatch"),
        RuntimeError("collection not found"),
    ],
)
def test_request_errors_are_not_unavailable(exc):
    assert not is_unavailable(exc)


# ---------------------------------------------------------------------- the words
@pytest.mark.parametrize(
    "text",
    [
        # seen in the stack outage tests (Milvus, S3 and etcd SIGKILL)
        "Fail connecting to server on 127.0.0.1:19530, illegal connection params or server unavailable",
        "[query] Retry timeout: 10s, message=proxy TaskCondition context Done",
        'empty grpc client: failed to connect 192.0.2.2:41825, reason: connection error: desc = "transport: '
        'error while dialing: dial tcp 192.0.2.2:41825: connect: connection refused"',
        "empty grpc client: find no available querycoord, check querycoord state",
        "service not ready[standalone=4]: Abnormal",
        "attempt #2: rpc error: code = Canceled desc = grpc: the client connection is closing",
        # earlier reports
        "<_InactiveRpcError of RPC that terminated with: status = StatusCode.UNAVAILABLE>",
        "Deadline Exceeded",
        "Cannot invoke RPC on closed channel!",
        "find no available rootcoord, check rootcoord state",
        "dial tcp 127.0.0.1:2379: connect: connection refused",
        "proxy is not ready",
    ],
)
def test_outage_texts_are_unavailable(text):
    assert is_unavailable(server_error(65535, text))
    assert is_unavailable(RuntimeError(text))


def test_every_listed_text_is_one_that_counts():
    for text in OUTAGE_TEXTS:
        assert is_unavailable(RuntimeError(f"... {text} ..."))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("failed to search: collection not loaded[collection=470909669242044497]", True),
        ("collection not loaded[collection=449]", True),
        ("Collection Not Loaded", True),
        ("collection not load", True),
        ("collection not found", False),
        ("loaded", False),
    ],
)
def test_not_loaded_is_recognised(text, expected):
    assert is_not_loaded(server_error(101, text)) is expected
