"""The compose file's structure: services, healthcheck, depends_on conditions, volumes (no docker engine here)."""

from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_ordering(compose: dict) -> None:
    services = compose["services"]
    assert {"db", "migrate", "api"} <= set(services)
    assert "healthcheck" in services["db"] and "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    api_deps = services["api"]["depends_on"]
    assert api_deps["db"]["condition"] == "service_healthy"
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"][-2:] == ["db", "upgrade"]


def test_volumes_and_readonly_artifacts(compose: dict) -> None:
    services = compose["services"]
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert any(v.startswith("artifacts:") and v.endswith(":ro") for v in services["api"]["volumes"])
    assert {"pgdata", "artifacts"} <= set(compose["volumes"])
    jobs = [name for name, s in services.items() if s.get("profiles")]
    assert jobs, "training and index jobs run under a profile"
    for name in jobs:
        assert not any(v.endswith(":ro") for v in services[name].get("volumes", [])), name


def test_dockerfile_uses_make_targets() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "make install" in text and "USER mmwe" in text
    make = (ROOT / "Makefile").read_text()
    assert "\ninstall:" in make and "\nserve:" in make and "\nindex:" in make
