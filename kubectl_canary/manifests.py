"""Reading Kubernetes objects from a directory of YAML manifests (the GitOps path).

Both the plugin's `--files DIR` store and the webhook's `--state DIR` read directories the same way:
every `*.yaml`/`*.yml` file below DIR, every document in it, `List` kinds unwrapped. Each object is
returned with where it came from, so a writer can edit a team's multi-document files in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubectl_canary.core.errors import CanaryError, InvalidObject
from kubectl_canary.core.kinds import Obj

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Located:
    """An object read from a file: the file, the document's index in it, and the object."""

    path: Path
    index: int
    obj: Obj


def file_error(action: str, path: Path, err: OSError) -> CanaryError:
    """The domain error for a failed file operation: which path, what went wrong, and what to do."""
    blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if isinstance(err, (FileExistsError, NotADirectoryError)) and blocking is not None and blocking != path:
        return CanaryError(
            f"cannot {action} {path}: {blocking} is a file, not a directory; remove it or pick another -n/--files"
        )
    if isinstance(err, IsADirectoryError):
        return CanaryError(f"cannot {action} {path}: it is a directory; remove or rename it")
    if isinstance(err, PermissionError):
        return CanaryError(f"cannot {action} {path}: permission denied; check the permissions of {path.parent}")
    return CanaryError(f"cannot {action} {path}: {err.strerror or err}; check the path and try again")


def _documents(path: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8"))]
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InvalidObject(f"{path}: not valid YAML ({err}); fix or remove the file") from err
    except OSError as err:
        raise file_error("read", path, err) from err


def _objects(doc: Any, path: Path) -> Iterator[Obj]:
    if doc is None:
        return
    if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
        raise InvalidObject(f"{path}: a document is not a Kubernetes object (it needs apiVersion and kind)")
    if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _objects(item, path)
    else:
        yield doc


def read_file(path: Path) -> Iterator[Located]:
    """Every object in one YAML file, with its document index (None documents are skipped)."""
    for index, doc in enumerate(_documents(path)):
        for obj in _objects(doc, path):
            yield Located(path, index, obj)


def manifest_files(root: Path) -> list[Path]:
    """The YAML files below `root`, in a stable order (hidden directories skipped)."""
    if not root.is_dir():
        raise InvalidObject(f"{root}: not a directory; create it or pass an existing --files/--state directory")
    try:
        return sorted(
            p for p in root.rglob("*")
            if p.suffix in SUFFIXES and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    except OSError as err:
        raise file_error("read", Path(getattr(err, "filename", None) or root), err) from err


def read_dir(root: Path) -> list[Located]:
    """Every object in every YAML file below `root`."""
    return [found for path in manifest_files(root) for found in read_file(path)]
