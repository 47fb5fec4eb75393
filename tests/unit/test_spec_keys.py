"""The key table: complete against the compose schema, the docs generated from it, and the
startup warnings read from it."""

from __future__ import annotations

from pathlib import Path

from composewatch.compose.model import Project, Service
from composewatch.compose.schema_tables import TABLES
from composewatch.spec_keys import KEYS, Support, markdown, unsupported, warnings

DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def test_docs_are_generated_from_the_table() -> None:
    # Regenerate with: python -m composewatch.spec_keys
    assert DOC.read_text() == markdown()


def test_every_service_key_of_the_compose_schema_has_an_entry() -> None:
    top = {entry.key.split(".")[0] for entry in KEYS}
    schema = set(TABLES["services.*"]) - {"dockerfile"}
    assert sorted(schema - top) == []
    assert sorted(top - schema) == []


def test_entries_are_unique_unless_conditional() -> None:
    plain = [e.key for e in KEYS if e.when is None]
    assert len(plain) == len(set(plain))
    for entry in KEYS:
        assert entry.support is Support.APPLIED or entry.note, entry.key


def _service(**keys: object) -> Service:
    data = {"name": "p", "services": {"s": {"image": "busybox", **keys}}}
    return Project.model_validate(data).services["s"]


def test_conditional_entries_follow_the_value() -> None:
    def keys(**service: object) -> list[str]:
        return [k for k, _ in unsupported(_service(**service))]

    assert keys(scale=1, deploy={"replicas": 1, "placement": {}}) == []
    assert keys(scale=3) == []  # replicas are run
    assert keys(pull_policy="missing") == []
    assert keys(pull_policy="always") == ["pull_policy"]
    assert keys(devices=[{"source": "/dev/null", "target": "/dev/n"}]) == []
    cdi = {"source": "vendor.com/gpu=0", "target": "vendor.com/gpu=0"}
    assert keys(devices=[cdi]) == ["devices"]
    assert keys(networks={"a": {"mac_address": "02:42:ac:11:00:99", "driver_opts": {}}}) == []
    assert keys(networks={"a": {"interface_name": "eth7"}}) == ["networks.a.interface_name"]


def test_each_warning_carries_its_reason() -> None:
    found = dict(unsupported(_service(annotations={"a": "b"}, attach=False)))
    assert found["annotations"].support is Support.NOT_POSSIBLE
    assert "1.43" in found["annotations"].note
    assert found["attach"].support is Support.WARNED


def test_one_warning_line_per_key_names_service_key_and_reason() -> None:
    service = _service(annotations={"a": "b"}, attach=False, scale=2, read_only=True)
    assert warnings("web", service) == [
        "services.web.annotations: not possible on this engine "
        "(HostConfig.Annotations needs Engine API 1.43)",
        "services.web.attach: not applied by composewatch "
        "(composewatch does not attach to service logs)",
    ]


def test_a_mac_address_on_a_network_other_than_the_primary_one_is_warned_once() -> None:
    mac = {"mac_address": "02:42:ac:11:00:02"}
    primary_only = _service(networks={"a": mac, "b": None})
    assert warnings("web", primary_only) == []
    # `b` has the higher priority, so it is the primary network and `a`'s MAC can't be set.
    secondary = _service(networks={"a": mac, "b": {"priority": 10}})
    assert warnings("web", secondary) == [
        "services.web.networks.a.mac_address: not possible on this engine "
        "(on a network other than the primary one: needs Engine API 1.44)"
    ]


def test_readme_compatibility_table_is_the_code_table() -> None:
    # Regenerate with: python -m composewatch.spec_keys (writes both files)
    from composewatch.spec_keys import README_BEGIN, README_END, readme_section

    readme = (DOC.parents[1] / "README.md").read_text()
    section = readme[readme.index(README_BEGIN) : readme.index(README_END) + len(README_END)]
    assert section == readme_section()
