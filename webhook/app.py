"""The Flask app: the admission endpoints around the pure decisions. Health, readiness and metrics are
answered on a listener of their own (`webhook.serving.probes`), from the `Health` the app keeps for it
(`webhook.health.health_of`).

`POST /mutate` and `POST /validate` take an AdmissionReview v1 and answer one. The app never lets
an error reach the caller as a 500 or a stack trace: a malformed body is a 400 saying what is wrong
(413 over MAX_BODY); a lookup that cannot reach the API server in time is answered as the webhook's
failurePolicy would (a RouteTable write refused, a Deployment DELETE or Upstream write admitted with a
warning), by us, saying why, before kube-apiserver's timeout; a bug inside a decision fails closed:
mutation and validation deny and point to the logs (with the request uid), except where validation would not have
denied anyway (`--enforcement warn`, an UPDATE that leaves routing unchanged), which admits the object
unchanged with a warning. Logging and metrics never change the answer. What is answered and logged
is bounded whatever the request (`webhook.admission.limits`).
Each request is logged as one JSON line on stderr; a request that broke CanaryPolicy rules lists them
under `violations` (policy, field, enforcement, message), Audit ones included (decision `audit`).
The rules are the registry's (`webhook.admission.rules.RULES`), platform policy included.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException

from kubectl_canary.core.errors import ClusterError
from webhook.admission import limits, mutation, validation
from webhook.admission.decision import IGNORE, WARN, Context, Enforcement, Settings, Verdict
from webhook.admission.lookup import Lookup
from webhook.admission.policy import PolicyProblem
from webhook.admission.review import BadRequest, Review, TooLarge, parse
from webhook.admission.rules import RULES, Rules
from webhook.cluster.memo import Memo
from webhook.health import HEALTH, Health
from webhook.metrics import Metrics

# kube-apiserver limits an object to about 3 MiB; an UPDATE's review carries two of them.
MAX_BODY = 7 * 1024 * 1024

log = logging.getLogger("canary_webhook.requests")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message, "code": status}, status)


class Unreadable(BadRequest):
    """The body cannot be read to its end (a bad chunk size, a client gone mid-body): HTTP 400 (gunicorn
    then closes the connection: its parser cannot find where a next request would start)."""


def read_body() -> bytes:
    """The request body, or TooLarge when it is over MAX_BODY, or Unreadable."""
    try:
        # The rest of an oversized body is not read here: gunicorn drains it under a time limit after the
        # answer (and closes the connection if it takes longer), so a slow sender cannot hold the thread.
        length = request.content_length
        if length is not None and length > MAX_BODY:
            raise TooLarge(f"the body is {length} bytes, more than the {MAX_BODY} bytes allowed")
        body = request.stream.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise TooLarge(f"the body is more than the {MAX_BODY} bytes allowed")
        return body
    except (OSError, ValueError, HTTPException, ParseException) as err:
        # gunicorn's chunk errors (InvalidChunkSize, ChunkMissingTerminator, ...) are ParseExceptions, its
        # NoMoreData an OSError, werkzeug's ClientDisconnected an HTTPException. The details are the client's
        # bytes: cut them.
        raise Unreadable(f"the body cannot be read: {limits.clip(str(err) or type(err).__name__, 200)}") from err


def _lenient(ctx: Context, enforcement: Enforcement) -> str | None:
    """Why a validation that crashed still admits (`--enforcement warn`, or an UPDATE that leaves routing
    as it was, which validation would only warn about), or None to deny. Asked defensively: the request
    that made the decision crash may make these crash too, and then the answer is to deny."""
    try:
        if enforcement(ctx) == WARN:
            return "--enforcement warn"
        if ctx.is_routetable_write and ctx.routing_unchanged:
            return "routing unchanged"
    except Exception:
        log.exception("deciding how to fail safe failed", extra={"fields": {"uid": ctx.review.uid}})
    return None


def _failsafe(endpoint: str, ctx: Context, enforcement: Enforcement) -> Verdict:
    """What a decision that crashed answers: a denial pointing to the logs, unless it would not have
    denied anyway (`_lenient`), where it admits unchanged with a warning. Mutation fails closed too: an
    object admitted unmutated would be stored without what the rules rely on (its apiGroup label)."""
    uid = limits.clip(ctx.review.uid, 80)
    doing = "mutating" if endpoint == "mutate" else "validating"
    why = _lenient(ctx, enforcement)
    if why is not None:
        done = "unmutated" if endpoint == "mutate" else "unvalidated"
        return Verdict(
            allowed=True, decision="error",
            warnings=(f"admitted {done} ({why}): canary-webhook internal error, see its logs for uid {uid}",),
        )
    return Verdict(
        allowed=False, decision="error",
        message=f"canary-webhook failed while {doing} (internal error); see its logs for uid {uid}",
    )


def _unanswered(ctx: Context, err: ClusterError) -> Verdict:
    """The answer when the cluster cannot be read in time (the reads' budget is well inside the webhooks'
    timeoutSeconds, so the webhook answers before kube-apiserver gives up): what the configuration's
    failurePolicy for that kind (`serve --failure-policy`) would do, said by us. Shipped: Deployment DELETEs
    and Upstream writes (Ignore) are admitted with a warning; RouteTable writes (Fail) are refused."""
    why, settings = limits.clip(str(err), 300), ctx.settings
    policy = (settings.deployments_failure if ctx.is_deployment_delete else
              settings.upstreams_failure if ctx.is_upstream_write else settings.routetables_failure)
    if policy == IGNORE:
        return Verdict(allowed=True, decision="unavailable",
                       warnings=(f"admitted unchecked (failurePolicy Ignore): canary-webhook {why}",))
    return Verdict(allowed=False, decision="unavailable",
                   message=f"canary-webhook cannot decide now, so the request is refused (failurePolicy Fail); "
                           f"retry in a moment: {why}")


def _log_line(endpoint: str, review: Review | None, decision: str, started: float, **extra: Any) -> None:
    subject = (review.subject if review else None) or {}
    found = subject.get("metadata")
    # The mutating webhook sees objects before schema validation: metadata may be anything.
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    entry: dict[str, Any] = {"endpoint": endpoint, "decision": decision}
    if review is not None:
        entry.update(
            uid=review.uid,
            kind=str(review.kind),
            namespace=meta.get("namespace") or review.namespace,
            name=meta.get("name") or review.name or meta.get("generateName", ""),
            operation=review.operation,
            dryRun=review.dry_run,
        )
    entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
    entry.update({k: v for k, v in extra.items() if v})
    # Every value is the client's to size (a 3 MB name): the line is bounded here (and again in logs).
    log.info("%s %s", endpoint, decision, extra={"fields": limits.bounded(entry)})


@contextmanager
def _recording(endpoint: str, uid: str = "") -> Iterator[None]:
    """Around metrics and the log line of a decision already made: a failure there is logged, never
    turned into a 500 (the caller's answer does not depend on bookkeeping)."""
    try:
        yield
    except Exception:
        log.exception("recording the decision failed", extra={"fields": {"endpoint": endpoint, "uid": uid}})


def create_app(
    lookup: Lookup,
    settings: Settings | None = None,
    rules: Rules = RULES,
    enforcement: Enforcement = validation.configured_enforcement,
    serving: Callable[[], str | None] = lambda: None,
    endpoints: Mapping[str, Callable[[Context], Verdict]] | None = None,
) -> Flask:
    """The webhook app over `lookup`, deciding with `rules` (the registry's: the webhook's own rules and
    platform policy) and `enforcement` (`--enforcement`, for the whole webhook). `serving` says
    why the server should get no traffic now (it is shutting down), or None; /readyz is 503 then, and
    while the caches are not synced. `endpoints` adds POST endpoints answered by their deciders the way
    /mutate and /validate are (a benchmark's allow-all baseline); the shipped server adds none."""
    settings = settings or Settings()
    app = Flask("canary_webhook")
    metrics = Metrics()

    def not_ready() -> str | None:
        return serving() or (None if lookup.ready() else "caches not synced yet")

    app.extensions[HEALTH] = Health(not_ready, metrics.render)

    deciders: dict[str, Callable[[Context], Verdict]] = {
        "mutate": lambda ctx: mutation.mutate(ctx, rules.mutators.values()),
        "validate": lambda ctx: validation.validate(ctx, rules.checks.values(), enforcement),
        **(endpoints or {}),
    }

    def admit(endpoint: str) -> Response:
        started = time.perf_counter()
        review: Review | None = None

        def refuse(status: int, decision: str, message: str) -> Response:
            operation = review.operation if review else "unknown"
            message = limits.clip(message)
            with _recording(endpoint):
                metrics.observe(endpoint, operation, decision, time.perf_counter() - started)
                _log_line(endpoint, review, decision, started, error=message)
            return _error(status, message)

        try:
            review = parse(read_body())
            verdict = decide(endpoint, review)
        except TooLarge as err:
            return refuse(err.status, "too-large", str(err))
        except BadRequest as err:
            return refuse(err.status, "bad-request", str(err))
        answer = _json(verdict.to_response(review.uid))
        with _recording(endpoint, review.uid):
            metrics.record(verdict)
            metrics.observe(endpoint, review.operation, verdict.decision, time.perf_counter() - started)
            _log_line(endpoint, review, verdict.decision, started,
                      reasons=sorted({p.reason for p in verdict.problems} | {c.reason for c in verdict.changes}),
                      violations=[p.violation() for p in verdict.problems if isinstance(p, PolicyProblem)])
        return answer

    def decide(endpoint: str, review: Review) -> Verdict:
        """The decision for `review`; a cluster that cannot be read in time, or any other failure, is answered
        as the webhook's failure mode would (`_unanswered`, `_failsafe`)."""
        ctx = Context(review, Memo(lookup, budget=settings.fresh_budget), settings)
        try:
            return deciders[endpoint](ctx)
        except ClusterError as err:
            return _unanswered(ctx, err)
        except Exception:
            log.exception("decision failed", extra={"fields": {"endpoint": endpoint, "uid": review.uid}})
            return _failsafe(endpoint, ctx, enforcement)

    @app.post("/mutate")
    def mutate() -> Response:
        return admit("mutate")

    @app.post("/validate")
    def validate() -> Response:
        return admit("validate")

    for extra in endpoints or {}:
        app.add_url_rule(f"/{extra}", extra, lambda endpoint=extra: admit(endpoint), methods=["POST"])

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        return _error(err.code or 500, err.description or err.name)

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Response:
        # Only a bug outside the decisions gets here; the caller still sees no stack trace.
        log.exception("unhandled error", extra={"fields": {"path": request.path}})
        return _error(500, "internal error; see the webhook's logs")

    return app
