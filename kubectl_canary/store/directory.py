"""`DirectoryStore`: objects kept as YAML manifests in a directory (`--files DIR`, the GitOps path).

Reads every manifest below the directory (with `kubectl_canary.manifests`, parsing a file again only
when it changed). A new object is written to its own file at a stable name,
`<namespace>/<kind>-<name>.yaml`; an object that already lives in a file (maybe a team's
multi-document file) is edited in place there, replacing only its document so the rest of the file,
comments included, stays as it was. Deleting removes the object's
document, and the file once nothing is left in it. Every write goes to a temporary file renamed over
the old one, so a file is never half-written. Objects are stored as `manifest()`s, without status or
server-owned fields, and land on what is there by `merge_applied` (server-side apply's rule, emulated).
"""

from __future__ import annotations

import builtins
import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kubectl_canary.core.errors import CanaryError, InvalidObject
from kubectl_canary.core.kinds import Kind, Obj, ObjectRef, kind_named, labels_of, manifest
from kubectl_canary.core.merge import merge_applied
from kubectl_canary.core.selector import matcher
from kubectl_canary.manifests import Located, file_error, manifest_files, read_file

# libyaml's classes when PyYAML was built with it (about eight times faster), else the pure-Python ones.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(obj: Any) -> str:
    """One object as block-style YAML, keys in the order the builders wrote them."""
    return str(yaml.dump(obj, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True))


def _document_spans(text: str) -> list[tuple[int, int, bool, bool]]:
    """For each YAML document in `text`: start and end offsets, and whether `---` / `...` are explicit."""
    spans: list[tuple[int, int, bool, bool]] = []
    start, explicit = 0, False
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.DocumentStartEvent) and event.start_mark is not None:
            start, explicit = event.start_mark.index, bool(event.explicit)
        elif isinstance(event, yaml.DocumentEndEvent) and event.end_mark is not None:
            spans.append((start, event.end_mark.index, explicit, bool(event.explicit)))
    return spans


def _atomic_write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise file_error("write", path, err) from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise file_error("write", path, err) from err
        raise


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise file_error("read", path, err) from err


class DirectoryStore:
    """A `Store` over the YAML files below `root`; namespaced objects without a namespace get `default_namespace`.

    With `create`, a missing `root` reads as empty and is created on the first write (for `init`).
    """

    live = False

    def __init__(self, root: Path | str, default_namespace: str = "default", create: bool = False) -> None:
        self.root = Path(root)
        self.default_namespace = default_namespace
        self.create = create
        self.warnings: builtins.list[str] = []
        self._cache: dict[Path, tuple[tuple[int, int, int], builtins.list[Located]]] = {}

    def describe(self) -> str:
        return f"directory {self.root}"

    def wait_for_change(self, namespace: str, service: str, timeout: float) -> bool:
        return False  # files have no watch API: `status --watch` polls the directory

    # Reading

    def proxy_get(self, pod: ObjectRef, port: int, path: str) -> str:
        raise CanaryError(f"a directory of manifests runs no pods: reading {path} of pod {pod.namespace}/{pod.name} "
                          "needs a cluster (drop --files)")

    def _located(self) -> builtins.list[Located]:
        """Every object below the root; a file is parsed again only when its mtime or size changed."""
        if self.create and not self.root.exists():
            return []
        found: builtins.list[Located] = []
        cache: dict[Path, tuple[tuple[int, int, int], builtins.list[Located]]] = {}
        for path in manifest_files(self.root):
            try:
                stat = path.stat()
            except OSError as err:
                raise file_error("read", path, err) from err
            signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            cached = self._cache.get(path)
            objects = cached[1] if cached and cached[0] == signature else builtins.list(read_file(path))
            cache[path] = (signature, objects)
            found += objects
        self._cache = cache
        return found

    def _ref(self, obj: Obj) -> ObjectRef:
        ref = ObjectRef.of(obj)
        kind = kind_named(ref.kind)
        namespaced = kind.namespaced if kind else True
        return ObjectRef(ref.kind, (ref.namespace or self.default_namespace) if namespaced else "", ref.name)

    def _find(self, ref: ObjectRef) -> Located | None:
        found = [loc for loc in self._located() if self._ref(loc.obj) == ref]
        if len(found) > 1:
            where = ", ".join(f"{f.path} (document {f.index + 1})" for f in found)
            raise InvalidObject(f"{ref} is defined more than once: {where}; keep one")
        return found[0] if found else None

    def _with_namespace(self, obj: Obj) -> Obj:
        out = manifest(obj)
        ref = self._ref(obj)
        if ref.namespace:
            out.setdefault("metadata", {})["namespace"] = ref.namespace
        return out

    @staticmethod
    def _as_kept(before: Obj, stored: Obj) -> Obj:
        """`stored` as its file keeps it: without a namespace when the document had none (a kustomize
        overlay sets it), since the namespace only tells which object the document is."""
        if (before.get("metadata") or {}).get("namespace"):
            return stored
        kept = copy.deepcopy(stored)
        kept.get("metadata", {}).pop("namespace", None)
        return kept

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        found = self._find(ObjectRef(kind.kind, namespace if kind.namespaced else "", name))
        return self._with_namespace(found.obj) if found else None

    def list(self, kind: Kind, namespace: str | None, label_selector: str | None = None) -> builtins.list[Obj]:
        wanted = matcher(label_selector)
        found = []
        for loc in self._located():
            ref = self._ref(loc.obj)
            if ref.kind == kind.kind and (namespace is None or ref.namespace == namespace) and wanted(
                labels_of(loc.obj)
            ):
                found.append(self._with_namespace(loc.obj))
        return sorted(found, key=lambda o: (self._ref(o).namespace, self._ref(o).name))

    # Writing

    def path_for(self, ref: ObjectRef) -> Path:
        """The stable file of an object the plugin creates: `<namespace>/<kind>-<name>.yaml`."""
        file = f"{ref.kind.lower()}-{ref.name}.yaml"
        return self.root / ref.namespace / file if ref.namespace else self.root / file

    def apply(self, obj: Obj, dry_run: bool) -> Obj:
        ref = self._ref(obj)
        found = self._find(ref)
        stored = manifest(merge_applied(self._with_namespace(found.obj) if found else None, obj))
        if dry_run:
            return stored
        if found is None:
            path = self.path_for(ref)
            before = _read_text(path) if path.is_file() else ""
            # A file of that name that holds other objects gets this one as an extra document.
            _atomic_write(path, before.rstrip("\n") + "\n---\n" + dump(stored) if before.strip() else dump(stored))
        else:
            self._replace(found, ref, self._as_kept(found.obj, stored))
        return stored

    def delete(self, ref: ObjectRef, dry_run: bool) -> bool:
        found = self._find(ref)
        if found is None:
            return False
        if not dry_run:
            self._replace(found, ref, None)
        return True

    def _replace(self, found: Located, ref: ObjectRef, new: Obj | None) -> None:
        """Replace (or, for None, remove) the object's document in its file, leaving the rest untouched."""
        text = _read_text(found.path)
        start, end, explicit_start, explicit_end = _document_spans(text)[found.index]
        doc = yaml.load(text[start:end], Loader=_LOADER)
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            mine = [isinstance(i, dict) and self._ref(i) == ref for i in doc["items"]]
            kept = zip(doc["items"], mine, strict=True)
            doc["items"] = [new if m else i for i, m in kept if not m or new is not None]
            body: str | None = dump(doc)
        else:
            body = dump(new) if new is not None else None
        if body is None:
            replacement = ""
        else:
            replacement = ("---\n" if explicit_start else "") + body + ("..." if explicit_end else "")
        rest = text[:start] + replacement + text[end:]
        if not any(d is not None for d in yaml.load_all(rest, Loader=_LOADER)):
            try:
                found.path.unlink()
            except OSError as err:
                raise file_error("remove", found.path, err) from err
        else:
            _atomic_write(found.path, rest)
