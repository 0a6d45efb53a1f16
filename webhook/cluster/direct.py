"""Direct reads from the API server: the ones a request waits on (fresh lookups, caches not synced yet).

kube-apiserver waits at most `timeoutSeconds` (5 on the shipped webhooks) for our answer, so each read
gets `FRESH_TIMEOUT`, connecting included, through a client of its own that never retries a timeout
(urllib3's default tries a read that times out four times). A read that times out raises `Late`, one
that fails otherwise `ClusterError`; both say what could not be read and, for a timeout, after how long.
A 404 is an answer: None.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, Self

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import TimeoutError as Timeout
from urllib3.util.retry import Retry

from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import Kind, Obj
from webhook.admission.lookup import FRESH_TIMEOUT, Late


class _NoRetryAfterTimeout(Retry):
    """urllib3's Retry, except that a timeout ends the read (a connection refused or closed is retried)."""

    def increment(
        self, method: str | None = None, url: str | None = None, response: Any = None, error: Exception | None = None,
        _pool: Any = None, _stacktrace: Any = None,
    ) -> Self:
        if isinstance(error, Timeout):
            raise MaxRetryError(_pool, url or "", error) from error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def direct_client(api: client.ApiClient) -> client.ApiClient:
    """A client like `api` (same cluster and credentials) that retries once at most, and never a timeout.
    The informers keep `api` and urllib3's defaults: their watches reconnect by themselves."""
    cfg = copy.copy(api.configuration)
    cfg.retries = _NoRetryAfterTimeout(total=1)
    return client.ApiClient(cfg)


def decode(response: Any) -> Any:
    return json.loads(response.data)


def unavailable(what: str, err: Exception) -> ClusterError:
    """The error for a read of `what` that failed with `err` (`Late` for a timeout)."""
    reason = err.reason if isinstance(err, MaxRetryError) else err
    if isinstance(reason, Timeout):
        return Late(f"could not read {what} from the API server: it timed out after {FRESH_TIMEOUT:g} s")
    return ClusterError(f"could not read {what} from the API server: {err}")


def read(what: str, call: Callable[[], Any]) -> Any:
    """The decoded answer of `call()` (an API call made with `_preload_content=False`), None for a 404."""
    try:
        return decode(call())
    except ApiException as err:
        if err.status == 404:
            return None
        raise unavailable(what, err) from err
    except Exception as err:  # urllib3 and socket errors: the API server cannot be reached in time
        raise unavailable(what, err) from err


def items(what: str, call: Callable[[], Any], kind: Kind) -> list[Obj]:
    """The items of a list `call()`, each with the apiVersion and kind a list's items lack."""
    found = read(what, call) or {}
    listed = [i for i in found.get("items") or [] if isinstance(i, dict)]
    for item in listed:
        item.setdefault("apiVersion", kind.api_version)
        item.setdefault("kind", kind.kind)
    return listed
