"""Clone fidelity in a directory of manifests (`--files`): `start` writes the canary as a copy of the
primary's manifest, the same copy it writes on a cluster (tests/e2e/test_clone.py)."""

from __future__ import annotations

import copy

import yaml
from core.test_clone import KEPT_METADATA, PRIMARY, expected_template

from cli.conftest import objects_in
from kubectl_canary.core import objects
from kubectl_canary.core.routes import RouteState


def test_start_in_a_directory_copies_the_primarys_manifest(run, tmp_path):
    primary = copy.deepcopy(PRIMARY)
    primary.pop("status")
    docs = [objects.service("shop", "shop", 9898), objects.upstream("shop", "shop"),
            objects.routetable("shop", "shop", RouteState("v1"), "example"), primary]
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    result = run("start", "shop", "--version", "v2", "-n", "shop", "--files", str(tmp_path),
                 "--image", "ghcr.io/stefanprodan/podinfo:6.9.3", "--env", "PODINFO_UI_MESSAGE=hello from v2")
    assert result.exit_code == 0, result.output
    canary = objects_in(tmp_path)["Deployment/shop/shop-v2"]
    expected = expected_template(images={"shop": "ghcr.io/stefanprodan/podinfo:6.9.3"})
    expected["spec"]["containers"][0]["env"][0] = {"name": "PODINFO_UI_MESSAGE", "value": "hello from v2"}
    assert canary["spec"]["template"] == expected
    assert canary["metadata"] == KEPT_METADATA
    assert canary["spec"]["replicas"] == 3 and "paused" not in canary["spec"]
