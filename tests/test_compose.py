"""Deployment files without a docker engine: docker-compose.yml against the Compose Specification, and
our own rules.

The Compose Specification JSON schema comes from the `check-jsonschema` wheel (dev extra), which vendors
it; the file is interpolated the way `docker compose` does (`${VAR:-default}`, `$$`) with the values of
`.env.example` before it is validated. Run: `python -m pytest tests/test_compose.py`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JOB_PROFILES = ("prepare", "features", "train", "index", "evaluate")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, ${NAME+alt}, $NAME
VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a .env file; comments and blank lines are ignored."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise AssertionError(f"{path}:{number}: not a KEY=value line: {line!r}")
        values[key] = value
    return values


def documented(path: Path) -> set[str]:
    """Every variable the file documents, set (`KEY=`) or shown commented out (`# KEY=`)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(encoding="utf-8"), re.MULTILINE))


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: substitute ${...}, keep `$$` as a literal `$`; an unset ${X:?err} fails."""

    def sub(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            return arg if value is None or (op == ":-" and value == "") else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise AssertionError(f"required variable {name} is unset: {arg}")
            return value
        if op in (":+", "+"):
            return arg if value is not None and (op == "+" or value) else ""
        return value or ""

    parts = text.split("$$")
    return "$".join(VAR.sub(sub, part) for part in parts)


def used_variables(node: Any) -> set[str]:
    """Variables interpolated anywhere in a parsed, not yet interpolated, YAML document (not comments)."""
    if isinstance(node, dict):
        return set().union(*(used_variables(k) | used_variables(v) for k, v in node.items()))
    if isinstance(node, list):
        return set().union(*(used_variables(v) for v in node))
    if isinstance(node, str):
        return {m.group("braced") or m.group("bare") for part in node.split("$$") for m in VAR.finditer(part)}
    return set()


# Secrets compose requires (`${VAR:?...}`): .env.example leaves them empty, so that no known password or token
# is ever deployed; the tests fill them in as a user's .env would.
REQUIRED_SECRETS = {"POSTGRES_PASSWORD", "MMWE_DB_API_PASSWORD", "MMWE_ADMIN_TOKEN"}


def example_env() -> dict[str, str]:
    return env_file(ROOT / ".env.example") | {name: f"test-{name.lower()}" for name in REQUIRED_SECRETS}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(interpolate(text, example_env()))
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def compose_schema() -> dict[str, Any]:
    path = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def test_schema_is_the_compose_specification() -> None:
    schema = compose_schema()
    assert schema["$id"] == "compose_spec.json"
    assert {"services", "volumes", "networks"} <= set(schema["properties"])


@pytest.mark.parametrize("env", ["example", "secrets-only"])
def test_compose_file_validates_against_the_specification(env: str) -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    values = example_env() if env == "example" else {name: "x" for name in REQUIRED_SECRETS}
    data = yaml.safe_load(interpolate(text, values))
    validator = jsonschema.Draft202012Validator(compose_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


@pytest.mark.parametrize("secret", sorted(REQUIRED_SECRETS))
def test_secrets_are_required_and_have_no_default(secret: str) -> None:
    """Issue 14 item 6: compose fell back to a known database password; now each secret must be set."""
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert env_file(ROOT / ".env.example")[secret] == "", f".env.example must not ship a value for {secret}"
    for unset in ({k: v for k, v in example_env().items() if k != secret}, example_env() | {secret: ""}):
        with pytest.raises(AssertionError, match=f"required variable {secret} is unset"):
            interpolate(text, unset)
    uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
    assert uses and all(use.startswith(":?") for use in uses), uses


def test_api_connects_as_the_least_privilege_role(services: dict[str, Any]) -> None:
    api_url = services["api"]["environment"]["DATABASE_URL"]
    migrate = services["migrate"]
    assert api_url.startswith("postgresql+psycopg://mmwe_api:test-mmwe_db_api_password@db:5432/")
    assert migrate["environment"]["DATABASE_URL"].startswith(
        "postgresql+psycopg://mmwe:test-postgres_password@"
    )
    assert migrate["environment"]["MMWE_DB_API_PASSWORD"] == "test-mmwe_db_api_password"
    assert "MMWE_DB_API_PASSWORD" not in services["api"]["environment"]
    assert services["api"]["environment"]["MMWE_ADMIN_TOKEN"] == "test-mmwe_admin_token"


def test_the_validation_catches_mistakes() -> None:
    validator = jsonschema.Draft202012Validator(compose_schema())
    bad = {"services": {"api": {"image": "x", "depends_on": {"db": {"condition": "service_ready"}}}}}
    assert list(validator.iter_errors(bad))
    assert list(
        validator.iter_errors({"services": {"api": {"image": "x", "healthcheck": {"tset": ["CMD"]}}}})
    )


def test_every_variable_is_documented_and_every_documented_one_is_used() -> None:
    from app.settings import Settings

    doc = documented(ROOT / ".env.example")
    compose_vars = used_variables(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
    dockerfile_args = set(re.findall(r"^ARG\s+([A-Z_][A-Z0-9_]*)=", (ROOT / "Dockerfile").read_text(), re.M))
    settings_vars = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        settings_vars.add(str(choices[0]) if choices else f"MMWE_{name.upper()}")
    missing = (compose_vars | settings_vars) - doc
    assert not missing, f".env.example does not document {sorted(missing)}"
    build_only = {"PYTHON_IMAGE", "CUDA_IMAGE"}  # base images: `docker build --build-arg`, not .env
    unused = doc - compose_vars - settings_vars - (dockerfile_args - build_only)
    assert not unused, f".env.example documents variables nothing reads: {sorted(unused)}"


def test_database_service(services: dict[str, Any], compose: dict[str, Any]) -> None:
    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    assert "pgdata" in compose["volumes"] and not compose["volumes"]["pgdata"], (
        "pgdata is a plain named volume"
    )
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_migrate_then_api(services: dict[str, Any]) -> None:
    migrate, api = services["migrate"], services["api"]
    assert migrate["command"] == ["python", "-m", "app", "db", "upgrade", "--api-role"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "profiles" not in api and "profiles" not in migrate and "profiles" not in services["db"]


def test_api_is_configured_from_the_environment(services: dict[str, Any]) -> None:
    api = services["api"]
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["api"]
    assert raw["environment"]["MMWE_WORKERS"].startswith("${MMWE_WORKERS")
    assert {"path": ".env", "required": False} in api["env_file"]
    assert (
        api["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        and "@db:5432/" in (api["environment"]["DATABASE_URL"])
    )
    assert api["environment"]["MMWE_HOST"] == "0.0.0.0"
    assert services["lb"]["ports"] == ["127.0.0.1:8000:8080"]


def test_api_healthcheck_is_readiness(services: dict[str, Any]) -> None:
    test = services["api"]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert "http://127.0.0.1:8000/readyz" in " ".join(test)


def test_api_mounts_artifacts_read_only(services: dict[str, Any]) -> None:
    api = services["api"]
    assert "artifacts:/data:ro" in api["volumes"]
    assert api["environment"]["MMWE_DATA_DIR"] == "/data"
    assert api["environment"]["MMWE_INDEX_DIR"].startswith("/data/index/")


def test_jobs_under_profiles_share_the_artifact_volume(services: dict[str, Any]) -> None:
    api_image = services["api"]["image"]
    for profile in JOB_PROFILES:
        jobs = [name for name, s in services.items() if profile in s.get("profiles", [])]
        assert jobs, f"no service under the {profile!r} profile"
        for name in jobs:
            job = services[name]
            assert "artifacts:/data" in job["volumes"], f"{name} must write the artifacts volume"
            assert job["image"] == api_image, f"{name} must reuse the api image"
            assert job["restart"] == "no"
            assert job["entrypoint"][:2] == ["python", "-m"], name


def test_job_commands_parse_with_the_real_clis(services: dict[str, Any]) -> None:
    """Each job's entrypoint + default command parses with the real CLI parser: no unknown command or flag."""
    import importlib

    for name, service in services.items():
        entry = service.get("entrypoint")
        if not entry:
            continue
        assert entry[:2] == ["python", "-m"], name
        parser = importlib.import_module(f"{entry[2]}.__main__").build_parser()
        argv = [*entry[3:], *service.get("command", [])]
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(
                f"service {name}: `python -m {entry[2]} {' '.join(argv)}` does not parse"
            ) from exc
        assert callable(getattr(args, "func", None)), name


def test_gpu_profile(services: dict[str, Any]) -> None:
    gpu = {name: s for name, s in services.items() if "gpu" in s.get("profiles", [])}
    assert gpu, "no service under the gpu profile"
    for name, service in gpu.items():
        assert service["build"]["target"] == "gpu", name
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert any("gpu" in d["capabilities"] and d.get("driver") == "nvidia" for d in devices), name
        assert "artifacts:/data" in service["volumes"], name
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = dict(re.findall(r"^FROM\s+\$\{?(\w+)\}?\s+AS\s+(\w+)", dockerfile, re.M))
    assert stages.get("CUDA_IMAGE") == "gpu"
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:\S+", dockerfile, re.M)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    faiss_gpu = next(r for r in extras["gpu"] if r.startswith("faiss-gpu"))
    assert f"pip install '{faiss_gpu}'" in dockerfile, "the GPU image installs the gpu extra's faiss-gpu"


def test_images_run_as_non_root(services: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for stage in re.split(r"^FROM\s", dockerfile, flags=re.M)[1:]:
        users = re.findall(r"^USER\s+(\S+)", stage, re.M)
        assert users and users[-1] not in ("root", "0"), f"stage {stage.split()[2]} ends as root"
    for name, service in services.items():
        if service.get("build"):
            assert str(service.get("user", "10001")).split(":")[0] not in ("root", "0"), name


def test_dockerfile_builds_with_the_readme_make_targets() -> None:
    """Every `make ...` in the Dockerfile is a target the Makefile really has (checked with `make -n`)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    calls = re.findall(r"(?:^RUN|&&)\s+make\s+([a-z][\w-]*(?:\s+[A-Z_]+=\S+)*)", dockerfile, re.M)
    targets = {call.split()[0] for call in calls}
    assert {"install", "system-deps"} <= targets
    for call in calls:
        args = [a.replace("$VENV", "/nonexistent/venv") for a in call.split()]
        done = subprocess.run(
            [make, "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, f"`make {call}`: {done.stderr.strip()}"
    dry = subprocess.run(
        [make, "-n", "install", "VENV=/nonexistent/venv", "PYTHON_BOOT=python3.11"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "pip install" in dry.stdout and "[serve,train]" in dry.stdout


def test_docker_build_context_excludes_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".venv", "data", ".env", ".git", "test-output"} <= ignored


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $$HOME ${SET}", env) == "x d  d $HOME x"
    with pytest.raises(AssertionError, match="UNSET"):
        interpolate("${UNSET:?needed}", env)


# --- scale-out (issue 19): `docker compose up --scale api=3` behind the `lb` service ------------------------


def test_api_scales(services: dict[str, Any]) -> None:
    """`--scale api=N` needs no fixed host port and no container_name on api; clients go through lb."""
    api = services["api"]
    assert "ports" not in api and "container_name" not in api
    assert api["expose"] == ["8000"]
    assert api["read_only"] is True
    assert api["environment"]["MMWE_SNAPSHOT_DIR"].startswith("/var/lib/mmwe/")
    assert "/var/lib/mmwe" in api["volumes"], "each replica's own (anonymous) volume for its index copies"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("chown mmwe:mmwe /data /var/lib/mmwe") == 2, "the volume must be the user's"


def test_load_balancer_service(services: dict[str, Any]) -> None:
    lb = services["lb"]
    assert lb["image"].startswith("nginx:")
    version = tuple(int(x) for x in re.findall(r"\d+", lb["image"].split(":")[1])[:2])
    assert version >= (1, 27), "`server ... resolve` (re-resolving the compose DNS name) needs nginx 1.27.3+"
    # started, not healthy: a first run's replicas are unready until the jobs built an index
    assert lb["depends_on"]["api"]["condition"] == "service_started"
    assert "/readyz" in " ".join(lb["healthcheck"]["test"])
    assert lb["read_only"] is True and "/tmp" in lb["tmpfs"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in lb["volumes"]}
    assert mounts == {
        "/etc/nginx/nginx.conf": "./deploy/nginx.conf",
        "/etc/nginx/mmwe-proxy.conf": "./deploy/nginx-proxy.conf",
    }
    for source in mounts.values():
        assert (ROOT / source).is_file(), source


def test_nginx_config_balances_every_replica_and_retries() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    directives = re.sub(r"#.*", "", conf)
    assert re.search(r"resolver\s+127\.0\.0\.11\s+valid=\d+s", directives), "Docker's DNS, re-resolved"
    upstream = re.search(r"upstream api \{(.*?)\}", directives, re.S)
    assert upstream is not None
    assert re.search(r"^\s*zone\s+api\s", upstream.group(1), re.M)
    assert re.search(r"^\s*server\s+api:8000\s+resolve\b", upstream.group(1), re.M)
    assert "ip_hash" not in directives and "sticky" not in directives, "no sticky sessions"
    assert "listen 8080;" in directives and "proxy_pass http://api;" in directives
    assert "include /etc/nginx/mmwe-proxy.conf;" in directives
    assert "user " not in directives.replace("upstream", ""), "runs nginx's default unprivileged workers"
    proxy = re.sub(r"#.*", "", (ROOT / "deploy" / "nginx-proxy.conf").read_text(encoding="utf-8"))
    retry = re.search(r"^proxy_next_upstream\s+([^;]*);", proxy, re.M)
    assert retry is not None and {"error", "timeout", "http_503"} <= set(retry.group(1).split())
    assert "non_idempotent" not in retry.group(1), "a POST (reload, evaluation) is never sent twice"
    assert re.search(r"^proxy_read_timeout\s+(\d+)s;", proxy, re.M)
    read = int(re.search(r"^proxy_read_timeout\s+(\d+)s;", proxy, re.M).group(1))  # type: ignore[union-attr]
    assert read > 30, "longer than MMWE_RELOAD_WAIT_S's default: a reload waits for every replica"


def test_kubernetes_sketch() -> None:
    """deploy/k8s/mmwe.yaml (documentation): API pods gated on /readyz with the artifacts read-only, and one
    Job per pipeline step whose command parses with the real CLI, as for the compose jobs."""
    import importlib

    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "mmwe.yaml").read_text()) if d]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    (deployment,) = by_kind["Deployment"]
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"mountPath": "/data", "name": "artifacts", "readOnly": True} in api["volumeMounts"]
    assert deployment["spec"]["replicas"] > 1
    (service,) = by_kind["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    steps = set()
    for job in by_kind["Job"]:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        assert command[:2] == ["python", "-m"], job["metadata"]["name"]
        args = importlib.import_module(f"{command[2]}.__main__").build_parser().parse_args(command[3:])
        assert callable(getattr(args, "func", None)), job["metadata"]["name"]
        steps.add(job["metadata"]["name"].removeprefix("mmwe-"))
    assert set(JOB_PROFILES) | {"migrate"} <= steps
