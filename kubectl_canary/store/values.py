"""Values of charts/gloo-app as text people edit: read and written with a round-trip YAML library, so that
comments, key order, quoting and keys the plugin does not know survive (`--values FILE`, and the values
Helm mode hands to `helm upgrade`). What to change is decided by the pure `core.values`; this module only
parses, applies those edits, renders and writes.
"""

from __future__ import annotations

import difflib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubectl_canary.core.errors import InvalidObject, NotFound
from kubectl_canary.core.values import Edit, apply_edits


# ruamel.yaml is imported when a values file is read, not at every command's start.
def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 4096
    return yaml


def parse(text: str, where: str) -> Any:
    """The values in `text` as a round-trip map, ruamel's CommentedMap (empty text: an empty map)."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    try:
        doc = _yaml().load(text)
    except YAMLError as err:
        raise InvalidObject(f"{where} is not valid YAML: {err}") from err
    if doc is None:
        return CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise InvalidObject(f"{where} holds a {type(doc).__name__}, expected a map of chart values")
    return doc


def render(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def edited(text: str, edits: tuple[Edit, ...], where: str) -> str:
    """`text` with `edits` applied, everything else as it was written."""
    doc = parse(text, where)
    apply_edits(doc, edits)
    return render(doc) if doc else ""


def diff(old: str, new: str, where: str) -> str:
    """A unified diff from `old` to `new` (empty when equal)."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{where}", f"b/{where}"))


@dataclass(frozen=True)
class ValuesFile:
    """One values file (`--values FILE`); `create` lets `init` start from a file that does not exist."""

    path: Path
    create: bool = False

    @property
    def where(self) -> str:
        return f"values file {self.path}"

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if self.create:
                return ""
            raise NotFound(f"{self.where} not found; create it with `kubectl canary init S --version V "
                           f"--values {self.path}`") from None

    def write(self, text: str) -> None:
        """Replace the file in one step (a reader never sees half of it), keeping its mode."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
