"""A pod's volumes, materialised as the kubelet materialises them, in a directory per pod:
`configMap`, `secret`, `downwardAPI` and `projected` (their configMap, secret and downwardAPI
sources) become files (`items` with `path` and `mode`, `defaultMode`, `optional`) in the kubelet's
atomic-writer layout (`key -> ..data/key`, `..data -> ..<timestamp>`, swapped in one rename when the
source changes, which is what podinfo's config watcher waits for); `emptyDir` is an empty directory;
`hostPath` is the node's directory. A volume whose source is missing raises ConfigError with the
kubelet's message (the pod then waits in `ContainerCreating`).

`mounts()` maps a container's `volumeMounts` (`mountPath`, `subPath`, `readOnly`) to bind mounts;
the node agent makes them inside the container's own mount namespace (sandbox.py).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .podenv import ConfigError, Lookup, field_value, source

# relative path -> (content, mode)
Files = dict[str, tuple[bytes, int]]
DEFAULT_MODE = 0o644


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool


def _keyed(kind: str, sel: dict[str, Any], pod: dict[str, Any], lookup: Lookup, default_mode: int) -> Files:
    name = sel.get("name") or sel.get("secretName") or ""
    data = source(lookup, kind, pod["metadata"]["namespace"], name, bool(sel.get("optional")))
    if data is None:
        return {}
    mode = sel.get("defaultMode", default_mode)
    if not sel.get("items"):
        return {key: (value, mode) for key, value in data.items()}
    files: Files = {}
    for item in sel["items"]:
        if item["key"] not in data:
            if sel.get("optional"):
                continue
            what = "configmap references non-existent config key" if kind == "ConfigMap" else \
                "references non-existent secret key"
            raise ConfigError(f"{what}: {item['key']}")
        files[item["path"]] = (data[item["key"]], item.get("mode", mode))
    return files


def _downward(items: list[dict[str, Any]], pod: dict[str, Any], default_mode: int) -> Files:
    files: Files = {}
    for item in items:
        if "fieldRef" not in item:
            raise ConfigError(f"downwardAPI item {item['path']}: only fieldRef is supported on this test node")
        files[item["path"]] = (field_value(pod, item["fieldRef"]["fieldPath"]).encode(), item.get("mode", default_mode))
    return files


def volume_files(pod: dict[str, Any], volume: dict[str, Any], lookup: Lookup) -> Files | None:
    """The files of a volume made of files; None for a plain directory (emptyDir)."""
    if "configMap" in volume:
        return _keyed("ConfigMap", volume["configMap"], pod, lookup, DEFAULT_MODE)
    if "secret" in volume:
        return _keyed("Secret", volume["secret"], pod, lookup, DEFAULT_MODE)
    if "downwardAPI" in volume:
        spec = volume["downwardAPI"]
        return _downward(spec.get("items") or [], pod, spec.get("defaultMode", DEFAULT_MODE))
    if "projected" in volume:
        spec = volume["projected"]
        mode = spec.get("defaultMode", DEFAULT_MODE)
        files: Files = {}
        for src in spec.get("sources") or []:
            if "configMap" in src:
                files.update(_keyed("ConfigMap", src["configMap"], pod, lookup, mode))
            elif "secret" in src:
                files.update(_keyed("Secret", src["secret"], pod, lookup, mode))
            elif "downwardAPI" in src:
                files.update(_downward(src["downwardAPI"].get("items") or [], pod, mode))
            else:
                raise ConfigError(f"projected volume {volume['name']}: source {sorted(src)} is not supported "
                                  "on this test node (configMap, secret, downwardAPI are)")
        return files
    if "emptyDir" in volume:
        return None
    kinds = sorted(set(volume) - {"name"})
    raise ConfigError(f"volume {volume['name']}: type {kinds} is not supported on this test node "
                      "(configMap, secret, downwardAPI, projected, emptyDir, hostPath are)")


def _current(root: Path) -> Files:
    data = root / "..data"
    if not data.is_dir():
        return {}
    return {str(p.relative_to(data)): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in data.rglob("*") if p.is_file()}


def write_atomic(root: Path, files: Files) -> bool:
    """Write `files` under `root` in the kubelet's atomic-writer layout; False if nothing changed."""
    root.mkdir(parents=True, exist_ok=True)
    if (root / "..data").exists() and _current(root) == files:
        return False
    stamp = root / (time.strftime("..%Y_%m_%d_%H_%M_%S.") + str(time.monotonic_ns()))
    stamp.mkdir()
    for rel, (content, mode) in files.items():
        path = stamp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    old = os.readlink(root / "..data") if (root / "..data").is_symlink() else None
    (root / "..data_tmp").unlink(missing_ok=True)
    (root / "..data_tmp").symlink_to(stamp.name)
    os.replace(root / "..data_tmp", root / "..data")
    tops = {rel.split("/", 1)[0] for rel in files}
    for entry in root.iterdir():
        if not entry.name.startswith("..") and entry.name not in tops:
            entry.unlink()
    for top in tops:
        if not (root / top).is_symlink():
            (root / top).symlink_to(f"..data/{top}")
    if old:
        shutil.rmtree(root / old, ignore_errors=True)
    return True


def materialise(pod: dict[str, Any], root: Path, lookup: Lookup) -> dict[str, Path]:
    """Make (or refresh) every volume of the pod under `root`; volume name -> its directory."""
    dirs: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or []:
        if "hostPath" in volume:
            dirs[volume["name"]] = Path(volume["hostPath"]["path"])
            continue
        path = root / volume["name"]
        files = volume_files(pod, volume, lookup)
        if files is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            write_atomic(path, files)
        dirs[volume["name"]] = path
    return dirs


def mounts(container: dict[str, Any], pod: dict[str, Any], dirs: dict[str, Path]) -> list[Mount]:
    """The bind mounts for a container's volumeMounts (files volumes are always read-only)."""
    kinds = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    out = []
    for vm in container.get("volumeMounts") or []:
        if vm["name"] not in dirs:
            raise ConfigError(f"volumeMount {vm['name']!r} of container {container['name']!r}: no such volume")
        src = dirs[vm["name"]]
        if vm.get("subPath"):
            src = src / vm["subPath"]
            if not src.exists():
                src.mkdir(parents=True)
        files_volume = not ({"emptyDir", "hostPath"} & set(kinds[vm["name"]]))
        out.append(Mount(src, vm["mountPath"], bool(vm.get("readOnly")) or files_volume))
    return out
