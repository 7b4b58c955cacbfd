"""Shared set-up of the togai-client acceptance scripts (tests/togai/*.py).

Each script is run by `tests/it/http/togai.rs` with the unmodified official client
(`togai-client==1.0.3`) against a live `billrun serve`: BILLRUN_URL is the server's
base URL and BILLRUN_TOKEN an Administrator API token of a fresh organisation. A
script exits non-zero (an exception, or `check` failing) when billrun answers a
shape, status or value the client or the test does not accept.
"""

import os
import sys

import togai_client
from togai_client.exceptions import ApiException


def client() -> togai_client.ApiClient:
    """An ApiClient for the server under test, authenticated with the test's token."""
    config = togai_client.Configuration(
        host=os.environ["BILLRUN_URL"], access_token=os.environ["BILLRUN_TOKEN"]
    )
    return togai_client.ApiClient(config)


def check(condition: bool, what: str) -> None:
    """Fails the script with `what` unless `condition` holds."""
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def refused(status: int, call, *args, **kwargs) -> ApiException:
    """Calls `call(*args, **kwargs)` and returns the ApiException it raises, checking its
    status is `status`; fails the script when the call succeeds or answers another
    status."""
    try:
        result = call(*args, **kwargs)
    except ApiException as e:
        check(e.status == status, f"{call.__name__}: expected {status}, got {e.status}: {e.body}")
        return e
    check(False, f"{call.__name__}: expected {status}, got success: {result!r}")
    raise AssertionError("unreachable")
