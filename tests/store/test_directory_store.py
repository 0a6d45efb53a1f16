"""DirectoryStore: stable file names for new objects, in-place edits of a team's files, deletions,
dry runs that touch nothing, and the reading rules (namespaces, duplicates, selectors)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import service_objects

from kubectl_canary.core import names
from kubectl_canary.core.errors import CanaryError, InvalidObject
from kubectl_canary.core.kinds import DEPLOYMENT, NAMESPACE, ROUTETABLE, SERVICE, ObjectRef
from kubectl_canary.core.routes import RouteState
from kubectl_canary.store.directory import DirectoryStore

TEAM_FILE = """\
# echo, maintained by team A
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: echo
spec:
  ports:
  - port: 80
    targetPort: 8080
    protocol: TCP
  selector:
    app: echo
---
# keep me: a ConfigMap the plugin never touches
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: echo
data:
  key: value  # trailing comment
"""


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_new_objects_get_one_file_each_at_a_stable_name(tmp_path):
    store = DirectoryStore(tmp_path)
    for obj in service_objects(RouteState("v1"), {"v1": "primary"}):
        store.apply(obj, dry_run=False)
    assert files(tmp_path) == ["echo/deployment-echo-v1.yaml", "echo/routetable-echo-routes.yaml",
                               "echo/service-echo.yaml", "echo/upstream-echo.yaml"]
    assert yaml.safe_load((tmp_path / "echo/service-echo.yaml").read_text())["kind"] == "Service"
    assert store.get(ROUTETABLE, "echo", "echo-routes")["spec"]["routes"][0]["matchers"] == [{"prefix": "/echo"}]


def test_an_object_in_a_team_file_is_edited_in_place_and_the_rest_is_kept_verbatim(tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text(TEAM_FILE)
    store = DirectoryStore(tmp_path)
    service = service_objects(RouteState("v1"), {})[0]
    stored = store.apply(service, dry_run=False)
    assert files(tmp_path) == ["team.yaml"]
    text = team.read_text()
    assert text.startswith("# echo, maintained by team A\n")
    assert text.endswith(TEAM_FILE[TEAM_FILE.index("---\n# keep me"):])
    assert stored["metadata"]["labels"] == {names.MANAGED_BY: names.MANAGER}
    assert yaml.safe_load_all(text).__next__()["metadata"]["labels"] == {names.MANAGED_BY: names.MANAGER}


def test_a_team_field_survives_an_apply(tmp_path):
    (tmp_path / "svc.yaml").write_text(TEAM_FILE.replace("  selector:", "  sessionAffinity: ClientIP\n  selector:"))
    store = DirectoryStore(tmp_path)
    store.apply(service_objects(RouteState("v1"), {})[0], dry_run=False)
    assert store.get(SERVICE, "echo", "echo")["spec"]["sessionAffinity"] == "ClientIP"


def test_deleting_removes_the_document_then_the_file(tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text(TEAM_FILE)
    store = DirectoryStore(tmp_path)
    assert store.delete(ObjectRef("Service", "echo", "echo"), dry_run=False) is True
    docs = [d for d in yaml.safe_load_all(team.read_text()) if d]
    assert [d["kind"] for d in docs] == ["ConfigMap"] and "# keep me" in team.read_text()
    assert store.delete(ObjectRef("ConfigMap", "echo", "settings"), dry_run=False) is True
    assert files(tmp_path) == []
    assert store.delete(ObjectRef("ConfigMap", "echo", "settings"), dry_run=False) is False


def test_objects_inside_a_list_document_are_edited_and_deleted_in_the_list(tmp_path):
    objs = service_objects(RouteState("v1"), {"v1": "primary", "v2": "canary"})
    (tmp_path / "all.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objs}))
    store = DirectoryStore(tmp_path)
    changed = objs[-1] | {"metadata": {**objs[-1]["metadata"], "annotations": {names.ROLE: "primary"}}}
    store.apply(changed, dry_run=False)
    store.delete(ObjectRef("Deployment", "echo", "echo-v1"), dry_run=False)
    items = yaml.safe_load((tmp_path / "all.yaml").read_text())["items"]
    assert [i["metadata"]["name"] for i in items] == ["echo", "echo", "echo-routes", "echo-v2"]
    assert items[-1]["metadata"]["annotations"] == {names.ROLE: "primary"}


def test_dry_run_touches_nothing_but_returns_the_result(tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text(TEAM_FILE)
    store = DirectoryStore(tmp_path)
    rt = service_objects(RouteState("v1"), {})[2]
    assert store.apply(rt, dry_run=True)["metadata"]["name"] == "echo-routes"
    assert store.apply(service_objects(RouteState("v1"), {})[0], dry_run=True)["spec"]["ports"]
    assert store.delete(ObjectRef("Service", "echo", "echo"), dry_run=True) is True
    assert files(tmp_path) == ["team.yaml"] and team.read_text() == TEAM_FILE


def test_objects_without_a_namespace_are_in_the_default_one(tmp_path):
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: echo\n")
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: echo\n")
    store = DirectoryStore(tmp_path, default_namespace="echo")
    assert store.get(SERVICE, "echo", "echo")["metadata"]["namespace"] == "echo"
    assert store.get(NAMESPACE, "", "echo")["metadata"] == {"name": "echo"}
    assert DirectoryStore(tmp_path).get(SERVICE, "echo", "echo") is None


def test_list_filters_by_namespace_and_label_selector(tmp_path):
    store = DirectoryStore(tmp_path)
    for ns in ("a", "b"):
        for obj in service_objects(RouteState("v1"), {"v1": "primary"}, namespace=ns):
            store.apply(obj, dry_run=False)
    (tmp_path / "hand.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable", "metadata": {"name": "x", "namespace": "a"}}))
    selector = f"{names.MANAGED_BY}={names.MANAGER}"
    assert [o["metadata"]["namespace"] for o in store.list(ROUTETABLE, None, selector)] == ["a", "b"]
    assert [o["metadata"]["name"] for o in store.list(ROUTETABLE, "a")] == ["echo-routes", "x"]
    assert len(store.list(DEPLOYMENT, "b")) == 1


def test_an_object_defined_twice_is_an_error_naming_both_files(tmp_path):
    (tmp_path / "a.yaml").write_text(TEAM_FILE)
    (tmp_path / "b.yaml").write_text(TEAM_FILE)
    with pytest.raises(InvalidObject, match=r"Service echo/echo is defined more than once: .*a.yaml .*b.yaml"):
        DirectoryStore(tmp_path).get(SERVICE, "echo", "echo")


def test_a_missing_directory_is_an_error_unless_created(tmp_path):
    with pytest.raises(InvalidObject, match="not a directory"):
        DirectoryStore(tmp_path / "missing").get(SERVICE, "echo", "echo")
    store = DirectoryStore(tmp_path / "new", create=True)
    assert store.get(SERVICE, "echo", "echo") is None
    store.apply(service_objects(RouteState("v1"), {})[0], dry_run=False)
    assert files(tmp_path) == ["new/echo/service-echo.yaml"]


def test_a_stable_file_holding_other_objects_gets_the_new_one_appended(tmp_path):
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo/service-echo.yaml").write_text(TEAM_FILE.split("---\n")[1])
    store = DirectoryStore(tmp_path)
    store.apply(service_objects(RouteState("v1"), {})[0], dry_run=False)
    kinds = [d["kind"] for d in yaml.safe_load_all((tmp_path / "echo/service-echo.yaml").read_text())]
    assert kinds == ["ConfigMap", "Service"]


def test_status_and_server_fields_are_not_written(tmp_path):
    store = DirectoryStore(tmp_path)
    obj = service_objects(RouteState("v1"), {})[0]
    obj["status"] = {"loadBalancer": {}}
    obj["metadata"]["resourceVersion"] = "12"
    store.apply(obj, dry_run=False)
    assert "status" not in (tmp_path / "echo/service-echo.yaml").read_text()
    assert "resourceVersion" not in (tmp_path / "echo/service-echo.yaml").read_text()


def test_reads_see_changes_made_behind_the_store(tmp_path):
    store = DirectoryStore(tmp_path)
    assert store.list(SERVICE, None) == []
    (tmp_path / "svc.yaml").write_text(TEAM_FILE)
    assert [o["kind"] for o in store.list(SERVICE, None)] == ["Service"]
    assert store.describe() == f"directory {tmp_path}"


def test_a_file_where_the_namespace_directory_belongs_is_named_with_the_fix(tmp_path):
    (tmp_path / "other").write_text("")
    store = DirectoryStore(tmp_path, default_namespace="other")
    with pytest.raises(CanaryError) as err:
        store.apply(service_objects(RouteState("v1"), {}, namespace="other", service="web")[0], dry_run=False)
    assert str(err.value) == (
        f"cannot write {tmp_path}/other/service-web.yaml: {tmp_path}/other is a file, not a directory; "
        "remove it or pick another -n/--files"
    )


def test_a_directory_where_a_manifest_belongs_is_named(tmp_path):
    (tmp_path / "echo" / "service-echo.yaml").mkdir(parents=True)
    with pytest.raises(CanaryError, match=r"cannot write .*/echo/service-echo.yaml: it is a directory; remove"):
        DirectoryStore(tmp_path).apply(service_objects(RouteState("v1"), {})[0], dry_run=False)


def test_a_document_without_a_namespace_stays_without_one_when_replaced(tmp_path):
    # kustomize overlays set the namespace; the plugin uses it only to tell which object a document is.
    team = tmp_path / "base.yaml"
    team.write_text(TEAM_FILE.replace("  namespace: echo\n", ""))
    store = DirectoryStore(tmp_path, default_namespace="echo")
    stored = store.apply(service_objects(RouteState("v1"), {})[0], dry_run=False)
    assert stored["metadata"]["namespace"] == "echo"
    written = list(yaml.safe_load_all(team.read_text()))
    assert "namespace" not in written[0]["metadata"]
    assert written[0]["metadata"]["labels"] == {names.MANAGED_BY: names.MANAGER}
    assert written[1]["metadata"] == {"name": "settings"}
    assert store.get(SERVICE, "echo", "echo")["metadata"]["namespace"] == "echo"
