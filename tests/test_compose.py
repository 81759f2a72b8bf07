"""docker-compose.yml validates with Compose itself (`docker compose config`, or the standalone
`docker-compose`): no engine is needed, and scripts/test.sh installs Compose when it is missing."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    pytest.fail("Compose is not installed: apt-get install docker-compose (scripts/test.sh does)")


def test_compose_file_validates_and_wires_the_services(tmp_path):
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "VIDSEARCH_LIBRARY": str(tmp_path)}
    profiles = ["--profile", "index", "--profile", "ray", "--profile", "metrics"]
    command = [*_compose(), "--file", str(ROOT / "docker-compose.yml"), *profiles, "config"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "api", "indexer", "ray-head", "prometheus"}
    database = "postgresql+psycopg://vidsearch:vidsearch@postgres:5432/vidsearch"
    assert services["api"]["environment"]["VIDSEARCH_DATABASE_URL"] == database
    assert services["indexer"]["environment"]["VIDSEARCH_DATABASE_URL"] == database
    # The API is published on the host's loopback only; beyond it, vidsearch itself demands a key.
    ports = services["api"]["ports"]
    assert all(
        str(p.get("host_ip", "")) == "127.0.0.1" if isinstance(p, dict) else str(p).startswith("127.0.0.1:")
        for p in ports
    )
    for gpu_service in ("indexer", "ray-head"):
        devices = services[gpu_service]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
        assert services[gpu_service]["build"]["args"]["EXTRAS"] == "postgres,gpu,ray"
        assert services[gpu_service]["environment"]["VIDSEARCH_DATABASE_URL"] == database
    # The Ray head runs `ray start --head` in the vidsearch image, so `vidsearch index --ray auto` runs beside it.
    head = services["ray-head"]
    assert head["entrypoint"] == ["ray"] and head["command"][:2] == ["start", "--head"]

    # The two share the data volume: generations, thumbnails and keys written by one are read by the other.
    def mounts(name):
        return {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in services[name]["volumes"]}

    assert "/data" in mounts("api") and "/data" in mounts("indexer") and "/data" in mounts("ray-head")
    assert "/library" in mounts("ray-head")


def test_the_image_installs_torch_before_vidsearch():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.index("pip install ${TORCH_SPEC}") < dockerfile.index('pip install ".[${EXTRAS}]"')
    assert "torchvision" not in dockerfile


def test_the_prometheus_profile_scrapes_the_api_with_a_key(tmp_path):
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "VIDSEARCH_LIBRARY": str(tmp_path)}
    command = [*_compose(), "--file", str(ROOT / "docker-compose.yml"), "--profile", "metrics", "config"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    prometheus = yaml.safe_load(result.stdout)["services"]["prometheus"]
    # Compose v2 writes mounts and ports as mappings, the standalone docker-compose as strings.
    mounted = {
        (v["target"] if isinstance(v, dict) else v.split(":")[1]): (
            v["source"] if isinstance(v, dict) else v.split(":")[0]
        )
        for v in prometheus["volumes"]
    }
    assert mounted["/etc/prometheus/prometheus.yml"] == str(ROOT / "deploy" / "prometheus.yml")
    assert "/etc/prometheus/vidsearch.key" in mounted
    assert all(
        str(p.get("host_ip", "")) == "127.0.0.1" if isinstance(p, dict) else str(p).startswith("127.0.0.1:")
        for p in prometheus["ports"]
    )
    [job] = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["api:8000"]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/vidsearch.key"}
