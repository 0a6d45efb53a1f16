"""The node agent's env and volume resolution (podenv.py, podvolumes.py), without a cluster: the
kubelet's `$(VAR)` rules, precedence, the kubelet's error messages, and the atomic-writer layout.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from .podenv import ConfigError, command_line, environment, expand
from .podvolumes import materialise, mounts, write_atomic

NS = "shop"
OBJECTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("ConfigMap", NS, "cfg"): {"data": {"message": "hi", "app.yaml": "a: 1\n", "BAD-NAME?": "x"}},
    ("Secret", NS, "sec"): {"data": {"token": base64.b64encode(b"s3cret").decode()}},
}
POD = {"metadata": {"name": "shop-v1-abc", "namespace": NS, "uid": "u1", "labels": {"app": "shop"}},
       "spec": {"nodeName": "node", "serviceAccountName": "shop"},
       "status": {"podIP": "10.244.0.7", "hostIP": "10.244.0.1"}}


def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, namespace, name))


@pytest.mark.parametrize(("text", "expected"), [
    ("$(A)", "1"),
    ("x$(A)y$(B)z", "x1y2z"),
    ("$(UNSET)", "$(UNSET)"),
    ("$$(A)", "$(A)"),
    ("$$", "$"),
    ("$A", "$A"),
    ("$(A", "$(A"),
    ("ends with $", "ends with $"),
    ("$()", ""),
])
def test_expand_follows_the_kubelet(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2", "": ""}) == expected


def test_environment_order_and_sources() -> None:
    container = {"name": "app", "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                                            {"secretRef": {"name": "sec"}}],
                 "env": [{"name": "token", "value": "overridden $(CFG_message)"},
                         {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                         {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                         {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                         {"name": "LATER", "value": "$(NEXT)"}, {"name": "NEXT", "value": "n"},
                         {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "no", "key": "k", "optional": True}}}],
                 "command": ["./podinfo", "--ip=$(IP)"], "args": ["$(APP)", "$$(APP)"]}
    env = environment(POD, container, lookup)
    assert env == {"CFG_message": "hi", "CFG_app.yaml": "a: 1\n", "token": "overridden hi", "IP": "10.244.0.7",
                   "APP": "shop", "SA": "shop", "LATER": "$(NEXT)", "NEXT": "n"}
    assert command_line(container, env) == (["./podinfo", "--ip=10.244.0.7"], ["shop", "$(APP)"])


@pytest.mark.parametrize(("ref", "message"), [
    ({"secretKeyRef": {"name": "gone", "key": "k"}}, 'secret "gone" not found'),
    ({"configMapKeyRef": {"name": "gone", "key": "k"}}, 'configmap "gone" not found'),
    ({"secretKeyRef": {"name": "sec", "key": "nope"}}, f"couldn't find key nope in Secret {NS}/sec"),
    ({"configMapKeyRef": {"name": "cfg", "key": "nope"}}, f"couldn't find key nope in ConfigMap {NS}/cfg"),
    ({"fieldRef": {"fieldPath": "spec.nope"}}, "unsupported fieldPath: spec.nope"),
])
def test_a_reference_that_cannot_be_resolved_says_what_the_kubelet_says(ref: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        environment(POD, {"name": "app", "env": [{"name": "V", "valueFrom": ref}]}, lookup)
    assert str(err.value) == message


def test_volumes_in_the_atomic_writer_layout(tmp_path: Path) -> None:
    pod = {**POD, "spec": {"volumes": [
        {"name": "config", "configMap": {"name": "cfg", "items": [{"key": "app.yaml", "path": "conf/app.yaml"}],
                                         "defaultMode": 0o600}},
        {"name": "creds", "secret": {"secretName": "sec"}}, {"name": "scratch", "emptyDir": {}}]}}
    dirs = materialise(pod, tmp_path, lookup)
    config = dirs["config"]
    assert (config / "conf" / "app.yaml").read_text() == "a: 1\n"
    assert os.readlink(config / "conf") == "..data/conf" and os.readlink(config / "..data").startswith("..20")
    assert (config / "conf" / "app.yaml").stat().st_mode & 0o777 == 0o600
    assert (dirs["creds"] / "token").read_bytes() == b"s3cret" and dirs["scratch"].is_dir()
    first = os.readlink(config / "..data")
    assert not write_atomic(config, {"conf/app.yaml": (b"a: 1\n", 0o600)})  # unchanged: nothing written
    assert write_atomic(config, {"other": (b"x", 0o644)})
    assert os.readlink(config / "..data") != first and not (config / first).exists()
    assert sorted(p.name for p in config.iterdir() if not p.name.startswith("..")) == ["other"]
    container = {"name": "app", "volumeMounts": [{"name": "config", "mountPath": "/etc/app"},
                                                 {"name": "scratch", "mountPath": "/tmp/s"}]}
    assert [(m.target, m.read_only) for m in mounts(container, pod, dirs)] == [("/etc/app", True), ("/tmp/s", False)]


def test_a_volume_of_a_missing_configmap_says_so(tmp_path: Path) -> None:
    pod = {**POD, "spec": {"volumes": [{"name": "config", "configMap": {"name": "gone"}}]}}
    with pytest.raises(ConfigError, match='configmap "gone" not found'):
        materialise(pod, tmp_path, lookup)
    pod = {**POD, "spec": {"volumes": [{"name": "config", "configMap": {"name": "cfg", "items": [
        {"key": "nope", "path": "x"}]}}]}}
    with pytest.raises(ConfigError, match="configmap references non-existent config key: nope"):
        materialise(pod, tmp_path, lookup)
