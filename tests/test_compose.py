"""docker-compose.yml: a pinned atlas-local image with the ports and volumes it needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
IMAGE = "mongodb/mongodb-atlas-local"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def service(compose: dict[str, Any]) -> dict[str, Any]:
    services = [s for s in compose["services"].values() if str(s.get("image", "")).startswith(IMAGE)]
    assert len(services) == 1, f"expected one {IMAGE} service, found {len(services)}"
    return services[0]


def test_image_tag_is_pinned(service: dict[str, Any]) -> None:
    name, _, tag = service["image"].partition(":")
    assert name == IMAGE
    assert tag not in ("", "latest", "preview")
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?(-\d{8}T\d{6}Z)?", tag), tag


def test_port_27017_published(service: dict[str, Any]) -> None:
    ports = [str(port) for port in service["ports"]]
    assert any(re.fullmatch(r"(127\.0\.0\.1:)?27017:27017(/tcp)?", port) for port in ports), ports


def test_named_volumes_for_data_paths(compose: dict[str, Any], service: dict[str, Any]) -> None:
    mounts: dict[str, str] = {}
    for volume in service["volumes"]:
        source, target = str(volume).split(":", 1)
        mounts[target.split(":")[0]] = source  # drop a ":ro"/":rw" suffix
    declared = set(compose.get("volumes") or {})
    for path in ("/data/db", "/data/configdb", "/data/mongot"):
        assert path in mounts, f"no volume for {path}"
        source = mounts[path]
        assert not source.startswith((".", "/", "~")), f"{path} uses a bind mount {source!r}"
        assert source in declared, f"volume {source!r} is not declared at the top level"


def test_no_command_or_entrypoint_override(service: dict[str, Any]) -> None:
    assert "command" not in service
    assert "entrypoint" not in service


def test_hostname_set(service: dict[str, Any]) -> None:
    assert service.get("hostname")
