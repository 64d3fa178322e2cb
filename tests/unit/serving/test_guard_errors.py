"""The guard's own refusals: their statuses and stable codes (clients match on the code)."""

from __future__ import annotations

import pytest

from clipvec.errors import ClipvecError
from clipvec.serving.guard import Forbidden, InvalidJson, RequestTimeout, TooManyRequests, Unauthorized


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (RequestTimeout, 408, "request_timeout"),
        (Unauthorized, 401, "unauthorized"),
        (Forbidden, 403, "forbidden"),
        (TooManyRequests, 429, "too_many_requests"),
        (InvalidJson, 400, "invalid_json"),
    ],
)
def test_status_and_code(cls, status, code):
    err = cls("why")
    assert isinstance(err, ClipvecError)
    assert (err.status, err.code, err.to_json()) == (status, code, {"error": code, "detail": "why"})
