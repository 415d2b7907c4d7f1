"""docs/broadcast.md's Kubernetes recipe, checked without a cluster: every
manifest against the Kubernetes API schema (strict: an unknown or misspelt
field fails), the manifests against each other (names, keys, labels,
ports, the order Kubernetes expands ``$(VAR)`` in), and the inference pod's
broadcasting variables against the library itself (the settings a node
would start with, read by the same code as ``ossc doctor``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

yaml = pytest.importorskip("yaml")
kv = pytest.importorskip("kubernetes_validate",
                         reason="kubernetes-validate is not installed (scripts/install-deps.sh)")

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "broadcast.md"
K8S_VERSION = "1.30.0"
USERS_OWN_SECRETS = {"oss-credentials"}   # the recipe says the user brings it
PRELOAD_PATH = "/usr/local/lib/libossc_preload.so"   # where the deb/rpm install it


def recipe() -> dict:
    """Every manifest of the page's Kubernetes section, by (kind, name)."""
    text = DOC.read_text()
    section = text.split("\n## Kubernetes\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert blocks, f"{DOC}: no yaml block under '## Kubernetes'"
    found = {}
    for block in blocks:
        for doc in yaml.safe_load_all(block):
            if doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


@pytest.fixture(scope="module")
def manifests() -> dict:
    m = recipe()
    assert set(m) == {("Secret", "ossc-broadcast"), ("Deployment", "ossc-redis"),
                      ("Service", "ossc-redis"), ("Deployment", "qwen")}, sorted(m)
    return m


def containers(deployment: dict) -> list:
    return deployment["spec"]["template"]["spec"]["containers"]


def env_of(container: dict) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


def test_every_manifest_is_valid_against_the_api_schema(manifests):
    for (kind, name), doc in manifests.items():
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as e:
            pytest.fail(f"{kind}/{name} in {DOC.name}: {e.message} at {list(e.path)}")


def test_deployments_select_their_own_pods(manifests):
    for (kind, name), doc in manifests.items():
        if kind == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            for k, v in doc["spec"]["selector"]["matchLabels"].items():
                assert labels.get(k) == v, f"Deployment/{name}: selector {k}={v} selects no pod"


def test_secret_references_name_keys_that_exist(manifests):
    secret = manifests[("Secret", "ossc-broadcast")]
    keys = set(secret["stringData"])
    for (kind, name), doc in manifests.items():
        if kind != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        for c in pod["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in USERS_OWN_SECRETS:
                    assert ref["name"] == "ossc-broadcast" and ref["key"] in keys, \
                        f"Deployment/{name} {c['name']} {e['name']}: no such secret key {ref}"
        for v in pod.get("volumes", []):
            if "secret" in v:
                assert v["secret"]["secretName"] == "ossc-broadcast"
                for item in v["secret"].get("items", []):
                    assert item["key"] in keys, f"volume {v['name']}: no key {item['key']}"


def test_variables_are_defined_before_they_are_expanded(manifests):
    """Kubernetes expands $(NAME) in env values, command and args only from
    variables listed earlier in the same container (else it stays literal,
    and the Redis URL would carry the text '$(REDIS_PASSWORD)')."""
    for (kind, name), doc in manifests.items():
        if kind != "Deployment":
            continue
        for c in containers(doc):
            seen = set()
            for e in c.get("env", []):
                for ref in re.findall(r"\$\((\w+)\)", e.get("value", "")):
                    assert ref in seen, f"Deployment/{name} {c['name']}: {e['name']} uses " \
                                        f"$({ref}) before it is defined"
                seen.add(e["name"])
            for arg in c.get("command", []) + c.get("args", []):
                for ref in re.findall(r"\$\((\w+)\)", arg):
                    assert ref in seen, f"Deployment/{name} {c['name']}: $({ref}) undefined"


def test_the_redis_url_reaches_the_redis_service(manifests):
    service = manifests[("Service", "ossc-redis")]
    redis_pod = manifests[("Deployment", "ossc-redis")]["spec"]["template"]
    for k, v in service["spec"]["selector"].items():
        assert redis_pod["metadata"]["labels"].get(k) == v, "the Service selects no Redis pod"
    (port,) = service["spec"]["ports"]
    redis_ports = [p["containerPort"] for c in redis_pod["spec"]["containers"]
                   for p in c.get("ports", [])]
    assert port["targetPort"] in redis_ports
    (vllm,) = containers(manifests[("Deployment", "qwen")])
    url = urlsplit(env_of(vllm)["OSSC_BROADCAST_REDIS"]["value"])
    assert url.scheme == "redis"
    assert (url.hostname, url.port) == (service["metadata"]["name"], port["port"])
    assert url.password == "$(REDIS_PASSWORD)"
    (redis,) = redis_pod["spec"]["containers"]
    assert "$(REDIS_PASSWORD)" in redis["args"], "Redis runs without the password nodes send"


def test_the_inference_pod_has_what_a_node_needs(manifests):
    pod = manifests[("Deployment", "qwen")]["spec"]["template"]["spec"]
    (vllm,) = pod["containers"]
    env = env_of(vllm)
    assert env["LD_PRELOAD"]["value"] == PRELOAD_PATH
    for name in ("ENABLE_CONNECTOR", "OSS_ENDPOINT", "OSS_PATH", "MODEL_DIR",
                 "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
        assert name in env, f"the inference container lacks {name}"
    assert env["MODEL_DIR"]["value"] in vllm["command"], "vllm serves another directory"
    mounts = {m["mountPath"]: m for m in vllm["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # The node cache lives in /dev/shm: a container's own is 64 MiB.
    shm = volumes[mounts["/dev/shm"]["name"]]
    assert shm["emptyDir"]["medium"] == "Memory"
    # The secret file is where the variable says, readable by its owner only.
    secret_file = env["OSSC_BROADCAST_SECRET_FILE"]["value"]
    mount = mounts[os.path.dirname(secret_file)]
    assert mount.get("readOnly") is True
    items = {i["path"]: i for i in volumes[mount["name"]]["secret"]["items"]}
    assert items[os.path.basename(secret_file)]["mode"] == 0o400
    # One pod per node: two pods of one node would be two chain members on one host.
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"


def test_the_library_takes_the_pods_settings(manifests, tmp_path):
    """The inference pod's broadcasting variables, with the Secret's values
    filled in as Kubernetes would, read by the library: broadcasting on, Redis
    at the URL's port and database, the secret from the mounted file, and the
    chunk server on the port the pod declares.  The Service's name resolves
    only inside a cluster, so here it is replaced by 127.0.0.1 (a name that
    does not resolve turns broadcasting off: test_bc_settings)."""
    secret = manifests[("Secret", "ossc-broadcast")]["stringData"]
    pod = manifests[("Deployment", "qwen")]["spec"]["template"]["spec"]
    (vllm,) = pod["containers"]
    env = env_of(vllm)
    password = "0123456789abcdef" * 3          # what `openssl rand -hex 24` gives
    secret_file = tmp_path / "secret"
    secret_file.write_text("q" * 43 + "=")      # `openssl rand -base64 32`: 44 characters
    secret_file.chmod(0o400)
    assert "<" in secret["redis-password"] and "<" in secret["secret"]   # placeholders
    node_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("OSSC_", "OSS_")) and k != "LD_PRELOAD"}
    node_env.update(
        OSSC_BROADCAST_REDIS=env["OSSC_BROADCAST_REDIS"]["value"].replace(
            "$(REDIS_PASSWORD)", password).replace("@ossc-redis:", "@127.0.0.1:"),
        OSSC_BROADCAST_SECRET_FILE=str(secret_file),
        OSS_CONNECTOR_CONFIG=str(tmp_path / "no-config.json"))
    code = ("import json; from ossconnector.cli._broadcast import settings; "
            "print(json.dumps(settings(None)))")
    proc = subprocess.run([sys.executable, "-c", code], env=node_env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    port = manifests[("Service", "ossc-redis")]["spec"]["ports"][0]["port"]
    assert got["enabled"] is True
    assert got["redis"] == f"127.0.0.1:{port}/0"
    assert got["secret_from"] == "OSSC_BROADCAST_SECRET_FILE"
    (chunks,) = [p for p in vllm["ports"] if p["name"] == "ossc-chunks"]
    assert got["advertise"].rsplit(":", 1)[1] == str(chunks["containerPort"])
    assert got["listen"].rsplit(":", 1)[1] == str(chunks["containerPort"])
    assert password not in proc.stdout + proc.stderr
