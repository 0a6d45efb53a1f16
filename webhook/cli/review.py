"""`canary-webhook review`: the decision `serve` makes, offline, on an object or an AdmissionReview in a file.

It exits 0 when the request is allowed, 1 when denied, 2 on bad input; it prints the (mutated) object, and on
stderr the warnings, audit records and denials.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import click
import yaml

from kubectl_canary.core.errors import CanaryError, InvalidObject
from kubectl_canary.core.kinds import ROUTETABLE, Obj, ObjectRef
from webhook.admission.decision import ENFORCE, ENFORCEMENTS, Context, Settings, Verdict
from webhook.admission.lookup import Lookup
from webhook.admission.mutation import mutate
from webhook.admission.review import KIND, BadRequest, GroupKind, Review, parse_document
from webhook.admission.rules import RULES
from webhook.admission.validation import validate
from webhook.cli.group import cli, fail
from webhook.cluster.memo import Memo
from webhook.cluster.state import StateLookup


def _load_input(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise InvalidObject(f"{path}: cannot read it ({err})") from err
    except RecursionError as err:
        raise InvalidObject(f"{path}: cannot read it (nested too deeply)") from err
    if len(docs) != 1:
        raise InvalidObject(f"{path}: expected one document (an object or an AdmissionReview), found {len(docs)}")
    return docs[0]


# The types the API server's schema guarantees for the fields the decisions read. `review` has no schema in
# front of it, so it checks these itself: a wrongly typed field is bad input (exit 2), as the API server
# would refuse it before the validating webhook is asked.
_Shape = tuple[type, Any]
_DEST: dict[str, _Shape] = {"upstream": (dict, None), "subset": (dict, {"values": (dict, None)})}
_META: _Shape = (dict, {"labels": (dict, None), "annotations": (dict, None)})
_ROUTETABLE: dict[str, _Shape] = {"metadata": _META, "spec": (dict, {"routes": (list, (dict, {
    "matchers": (list, (dict, {"headers": (list, (dict, None))})),
    "routeAction": (dict, {"single": (dict, _DEST), "multi": (dict, {"destinations": (list, (dict, {
        "destination": (dict, _DEST), "weight": (int, None)}))})}),
}))})}
_TYPE_NAMES = {dict: "an object", list: "a list", int: "an integer"}


def _shape_problem(value: Any, shape: _Shape, where: str) -> str | None:
    """Where `value` first differs from `shape` (a type and what its fields or items must be), or None."""
    kind, inner = shape
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return f"{where} must be {_TYPE_NAMES[kind]}, not {type(value).__name__} {json.dumps(value, default=str)[:40]}"
    if isinstance(value, list) and inner is not None:
        return next((p for i, item in enumerate(value) if (p := _shape_problem(item, inner, f"{where}[{i}]"))), None)
    if isinstance(value, dict) and inner is not None:
        return next((p for key, sub in inner.items()
                     if value.get(key) is not None and (p := _shape_problem(value[key], sub, f"{where}.{key}"))), None)
    return None


def check_shape(obj: Any, where: str = "") -> None:
    """InvalidObject naming the first field the decisions read that has the wrong type (metadata of any
    object; a RouteTable's routes, matchers, actions and destinations)."""
    fields = _ROUTETABLE if isinstance(obj, dict) and obj.get("kind") == ROUTETABLE.kind else {"metadata": _META}
    problem = _shape_problem(obj, (dict, fields), where.rstrip(".") or "the object")
    if problem:
        raise InvalidObject(problem.replace("the object.", "", 1))


def review_of(doc: Any, state: StateLookup) -> Review:
    """A Review for `-f`: a whole AdmissionReview, or a plain object as a CREATE (an UPDATE when the
    state holds an object of the same kind, namespace and name)."""
    if isinstance(doc, dict) and doc.get("kind") == KIND:
        found = parse_document(doc)
        for key, obj in (("object", found.obj), ("oldObject", found.old)):
            if obj is not None:
                check_shape(obj, f"request.{key}.")
        return found
    if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
        raise BadRequest("the input is neither an AdmissionReview nor a Kubernetes object (apiVersion, kind)")
    check_shape(doc)
    ref = ObjectRef.of(doc)
    namespace = ref.namespace or "default"
    old = state.find(str(doc["apiVersion"]), ref.kind, namespace, ref.name)
    group = str(doc["apiVersion"]).rpartition("/")[0]
    return Review(
        uid=str(uuid.uuid4()),
        kind=GroupKind(group, ref.kind),
        operation="UPDATE" if old is not None else "CREATE",
        namespace=namespace,
        name=ref.name,
        obj=doc,
        old=old,
    )


def decide(review: Review, lookup: Lookup, settings: Settings) -> tuple[Verdict, Verdict, Obj | None]:
    """Mutation, then validation of the mutated object: what kube-apiserver would do with both webhooks
    (the webhook's own rules and platform policy, as `serve` decides)."""
    mutated = mutate(Context(review, Memo(lookup, budget=None), settings), RULES.mutators.values())
    obj = mutated.mutated if mutated.draft is not None else review.obj
    after = Review(review.uid, review.kind, review.operation, review.namespace, review.name, obj, review.old,
                   review.dry_run)
    return mutated, validate(Context(after, Memo(lookup, budget=None), settings), RULES.checks.values()), obj


@cli.command()
@click.option("-f", "--filename", "path", required=True,
              help="An object or an AdmissionReview (YAML/JSON; - for stdin).")
@click.option("--state", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory of the cluster objects to consult (Upstreams, Deployments, RouteTables, ...).")
@click.option("--default-api-group", metavar="G")
@click.option("--enforcement", type=click.Choice(ENFORCEMENTS), default=ENFORCE, show_default=True)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def review(path: str, state: Path | None, default_api_group: str | None, enforcement: str, output: str) -> None:
    """Decide offline: print the (mutated) object, warnings, audit records and denials; exit 0 allowed, 1 denied,
    2 bad input."""
    try:
        lookup = StateLookup.from_dir(state) if state else StateLookup()
        request = review_of(_load_input(path), lookup)
        mutated, validated, obj = decide(request, lookup, Settings(default_api_group or None, enforcement))
    except CanaryError as err:
        fail(err)
    if obj is not None:
        text = json.dumps(obj, indent=2) + "\n" if output == "json" else yaml.safe_dump(obj, sort_keys=False)
        click.echo(text, nl=False)
    for warning in mutated.warnings + validated.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in validated.problems:
        if problem.recorded_only:  # an Audit policy's: the server would only log and count it
            click.echo(f"audit: {problem.message}", err=True)
    if not validated.allowed:
        for problem in validated.problems:
            if problem.deny:
                click.echo(f"denied: {problem.message}", err=True)
        sys.exit(1)
