"""The names that users, manifests and tests rely on (SPEC sections 1 to 3), and name validation.

Every label, annotation, default and object name the plugin or the webhook writes is spelt here once.
"""

from __future__ import annotations

import re
from typing import Final

from kubectl_canary.core.errors import UsageError

MANAGER: Final = "kubectl-canary"
MANAGED_BY: Final = "app.kubernetes.io/managed-by"
PREFIX: Final = "kubectl-canary.io/"

PHASE: Final = PREFIX + "phase"
PRIMARY: Final = PREFIX + "primary"
CANARY: Final = PREFIX + "canary"
WEIGHT: Final = PREFIX + "weight"
ROLE: Final = PREFIX + "role"
# The service a RouteTable routes, on RouteTables the plugin writes (their names need not be `S-routes`).
SERVICE_ANNOTATION: Final = PREFIX + "service"
# The last verdict of `shift --step` analysis, as JSON (`core.verdict.record`), on the RouteTable.
ANALYSIS: Final = PREFIX + "analysis"

# The annotation Helm 3 and 4 put on every object of a release: its name.
HELM_RELEASE: Final = "meta.helm.sh/release-name"

# The RouteTable label that a VirtualService's delegateAction selector matches (the seed's apiGroup).
API_GROUP: Final = "apiGroup"
# The Namespace label that names the apiGroup of the RouteTables in that namespace.
NAMESPACE_API_GROUP: Final = PREFIX + "api-group"

APP_KEY: Final = "app"
VERSION_KEY: Final = "version"

DEFAULT_IMAGE: Final = "hashicorp/http-echo"
DEFAULT_HEADER: Final = ("stage", "canary")
CONTAINER_PORT: Final = 8080
SERVICE_PORT: Final = 80

WEBHOOK_MUTATE: Final = "routetables.mutate.kubectl-canary.io"
WEBHOOK_VALIDATE: Final = "routetables.validate.kubectl-canary.io"
WEBHOOK_DEPLOYMENTS: Final = "deployments.validate.kubectl-canary.io"
WEBHOOK_UPSTREAMS: Final = "upstreams.validate.kubectl-canary.io"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Label values: up to 63 characters, alphanumerics at both ends, '-', '_' and '.' inside.
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def deployment_name(service: str, version: str) -> str:
    """The Deployment that runs one version: `S-V`, as the seed's chart names it."""
    return f"{service}-{version}"


def routetable_name(service: str) -> str:
    """The RouteTable of a service: `S-routes`."""
    return f"{service}-routes"


def service_of(routetable: str) -> str | None:
    """The service whose RouteTable is named `routetable` (`S-routes` -> `S`); None for any other name."""
    service = routetable.removesuffix("-routes")
    return service if service and service != routetable else None


def default_prefix(service: str) -> str:
    """The route prefix a service gets unless told otherwise: `/S`."""
    return f"/{service}"


def check_service(name: str) -> str:
    """Return `name` if it can name a Service (a DNS-1123 label), else raise a usage error."""
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise UsageError(
            f"invalid service name {name!r}: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (at most 63 characters)"
        )
    return name


def check_version(service: str, version: str) -> str:
    """Return `version` if `S-V` is a valid Deployment name and V a valid label value."""
    if not _DNS_LABEL.match(version) or len(deployment_name(service, version)) > 63:
        raise UsageError(
            f"invalid version {version!r}: use lowercase letters, digits and '-' (for example v2), "
            f"and keep '{deployment_name(service, version)}' within 63 characters"
        )
    return version


def check_label_value(what: str, value: str) -> str:
    """Return `value` if it is a valid Kubernetes label value, else raise a usage error naming `what`."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise UsageError(
            f"invalid {what} {value!r}: a label value has at most 63 letters, digits, '-', '_' or '.', "
            "beginning and ending with a letter or digit"
        )
    return value


# An HTTP header name is an RFC 9110 token.
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def parse_header(text: str) -> tuple[str, str]:
    """Split a `--header NAME=VALUE` argument, or raise a usage error saying what is expected."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not _HEADER_NAME.match(name) or not value:
        raise UsageError(f"invalid --header {text!r}: expected NAME=VALUE with a non-empty value, e.g. stage=canary")
    return name, value
