"""The one domain error hierarchy. Edges translate it: the CLI to exit codes, the webhook to HTTP.

`CanaryError` is a failure the user can fix (exit 1); `UsageError` is a bad command line (exit 2).
Every message names the object and what to do, in one line.
"""

from __future__ import annotations


class CanaryError(Exception):
    """A failure that stops a command: one line for stderr, exit code 1."""

    exit_code = 1


class UsageError(CanaryError):
    """The command line itself is wrong (bad flag value, malformed header): exit code 2."""

    exit_code = 2


class NotFound(CanaryError):
    """An object the command needs does not exist (unknown service, missing Deployment)."""


class StateConflict(CanaryError):
    """The command does not fit the current state (a canary already running, no canary to shift)."""


class UnmanagedShape(CanaryError):
    """A RouteTable has been edited into a shape the plugin does not manage; the message says what."""


class InvalidObject(CanaryError):
    """An object or manifest could not be read (bad YAML, not a Kubernetes object)."""


class ClusterError(CanaryError):
    """The cluster could not be reached, refused the request, or forbade it."""


class Forbidden(ClusterError):
    """The cluster's RBAC refused the request: the user may not do it (unlike an outage, a fact about them)."""


class PartialWrite(CanaryError):
    """Some writes of a plan went through before one failed; the message names which, and re-running
    the same command completes it."""


class Modified(CanaryError):
    """A conditional write found the object changed since it was read (another writer came between):
    nothing was written; the command reads again and plans anew."""


class ManagerConflict(CanaryError):
    """A server-side apply met fields that another field manager owns; `managers` names them, so an
    edge can tell people's tools (kubectl) from controllers (Argo CD, Flux, Helm)."""

    def __init__(self, message: str, managers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.managers = managers
