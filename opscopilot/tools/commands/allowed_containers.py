"""Allow-list: kubectl, docker and podman (Go programs: long options only match exactly).

kubectl's flags may follow the verb (cobra), so the global flags are allowed after it too;
docker's global flags come before the verb. Left out on purpose (they ask): anything that
picks credentials or a server (`--kubeconfig`, `--server`, `--token`, `--as`, `--user`,
`--certificate-authority`, `-H/--host`, `--tls*`, `--config`), `-v`/`--v` (logs bearer
tokens at high levels), `-f/--filename` and `-k` (read manifests or fetch URLs), `-w/--watch`
and `-f/--follow` (never end), `get --raw`, any `get`/`describe` of secrets, output formats
read from files (`go-template-file=`, `jsonpath-file=`, `custom-columns-file=`),
`cluster-info dump`, `config view --raw`, exec/run/attach/cp and every verb that changes
the cluster.
"""

from __future__ import annotations

import re

from opscopilot.tools.commands.allowed import Program
from opscopilot.tools.option_tables import ParsedOptions


def _kubectl_output(value: str) -> str | None:
    if re.search(r"-file\b|file=", value):
        return "a template or column file is read from disk"
    return None


def _no_secrets(operands: list[str], parsed: ParsedOptions) -> str | None:
    for word in operands:
        for resource in word.split("/", 1)[0].split(","):
            if resource.lower().startswith(("secret", "sealedsecret", "serviceaccounttoken")):
                return f"{word} is a secret: its values need a person"
    return None


_KUBECTL_GLOBAL = (
    "-n/--namespace=NS --context=CONTEXT --cluster=CLUSTER --request-timeout=DURATION "
    "--match-server-version --warnings-as-errors --disable-compression -h/--help"
)
_KUBECTL_SELECT = (
    "-A/--all-namespaces -l/--selector=SELECTOR --field-selector=SELECTOR --chunk-size=N"
)
_OUTPUT = (
    "-o/--output=FORMAT --show-managed-fields --allow-missing-template-keys --template=TEMPLATE"
)


def _kube(name: str, options: str = "", **kw: object) -> Program:
    return Program(
        name, options, checks={"--output": _kubectl_output} if "--output" in options else {}, **kw
    )  # type: ignore[arg-type]


KUBECTL = Program(
    "kubectl",
    _KUBECTL_GLOBAL,
    options_after_verb=True,
    network=True,
    verbs={
        "get": _kube(
            "get",
            f"{_KUBECTL_SELECT} {_OUTPUT} --show-labels --show-kind -L/--label-columns=COLUMNS "
            "--sort-by=FIELD --no-headers --ignore-not-found "
            "--subresource=NAME",
            operand_check=_no_secrets,
            min_operands=1,
        ),
        "describe": _kube(
            "describe",
            "-A/--all-namespaces -l/--selector=SELECTOR --chunk-size=N --show-events",
            operand_check=_no_secrets,
            min_operands=1,
        ),
        "logs": _kube(
            "logs",
            "-c/--container=NAME --all-containers -p/--previous --tail=N --since=DURATION "
            "--since-time=TIME --timestamps --prefix --limit-bytes=N --max-log-requests=N "
            "--ignore-errors -l/--selector=SELECTOR --pod-running-timeout=DURATION",
            min_operands=0,
        ),
        "top": _kube(
            "top",
            verbs={
                "pod": _kube(
                    "pod",
                    f"{_KUBECTL_SELECT} --containers --sort-by=FIELD --no-headers "
                    "--sum --use-protocol-buffers",
                ),
                "pods": _kube(
                    "pods",
                    f"{_KUBECTL_SELECT} --containers --sort-by=FIELD "
                    "--no-headers --sum --use-protocol-buffers",
                ),
                "node": _kube(
                    "node",
                    "-l/--selector=SELECTOR --sort-by=FIELD --no-headers "
                    "--show-capacity --use-protocol-buffers",
                ),
                "nodes": _kube(
                    "nodes",
                    "-l/--selector=SELECTOR --sort-by=FIELD --no-headers "
                    "--show-capacity --use-protocol-buffers",
                ),
            },
        ),
        "events": _kube(
            "events",
            f"-A/--all-namespaces --for=OBJECT --types=TYPES {_OUTPUT} --no-headers --chunk-size=N",
            operands="none",
        ),
        "explain": _kube(
            "explain", "--recursive --api-version=VERSION --output=FORMAT", max_operands=1
        ),
        "version": _kube("version", "--client -o/--output=FORMAT", operands="none"),
        "api-resources": _kube(
            "api-resources",
            "--namespaced --verbs=VERBS --api-group=GROUP "
            "-o/--output=FORMAT --no-headers --sort-by=FIELD --cached",
            operands="none",
        ),
        "api-versions": _kube("api-versions", "", operands="none"),
        "cluster-info": _kube("cluster-info", "", operands="none"),
        "rollout": _kube(
            "rollout",
            verbs={
                "status": _kube(
                    "status", "--revision=N --timeout=DURATION -w/--watch -l/--selector=SELECTOR"
                ),
                "history": _kube("history", f"--revision=N -l/--selector=SELECTOR {_OUTPUT}"),
            },
        ),
        "auth": _kube(
            "auth",
            verbs={
                "can-i": _kube(
                    "can-i", "-A/--all-namespaces --list --no-headers --quiet --subresource=NAME"
                ),
                "whoami": _kube("whoami", "-o/--output=FORMAT", operands="none"),
            },
        ),
        "config": _kube(
            "config",
            verbs={
                "current-context": _kube("current-context", "", operands="none"),
                "get-contexts": _kube("get-contexts", "--no-headers -o/--output=FORMAT"),
                "get-clusters": _kube("get-clusters", "", operands="none"),
                # Without --raw, `config view` masks credentials.
                "view": _kube(
                    "view",
                    "--minify --flatten -o/--output=FORMAT --template=TEMPLATE",
                    operands="none",
                ),
            },
        ),
    },
)

_DOCKER_GLOBAL = "-D/--debug -l/--log-level=LEVEL"
_FORMAT = "--format=TEMPLATE"
_DOCKER_PS = (
    f"-a/--all -f/--filter=FILTER {_FORMAT} -n/--last=N -l/--latest --no-trunc -q/--quiet -s/--size"
)
_DOCKER_IMAGES = f"-a/--all --digests -f/--filter=FILTER {_FORMAT} --no-trunc -q/--quiet --tree"
_DOCKER_LOGS = "--details --since=TIME --until=TIME -n/--tail=N -t/--timestamps"
_DOCKER_INSPECT = "-f/--format=TEMPLATE -s/--size --type=TYPE"
_DOCKER_STATS = f"-a/--all {_FORMAT} --no-stream --no-trunc"
_DOCKER_LS = f"-f/--filter=FILTER {_FORMAT} -q/--quiet --no-trunc"


def _docker(name: str, options: str = "", **kw: object) -> Program:
    return Program(name, options, **kw)  # type: ignore[arg-type]


def _docker_verbs() -> dict[str, Program]:
    container = {
        "ls": _docker("ls", _DOCKER_PS, operands="none"),
        "list": _docker("list", _DOCKER_PS, operands="none"),
        "ps": _docker("ps", _DOCKER_PS, operands="none"),
        "inspect": _docker("inspect", _DOCKER_INSPECT, min_operands=1),
        "logs": _docker("logs", _DOCKER_LOGS, min_operands=1, max_operands=1),
        "stats": _docker("stats", _DOCKER_STATS),
        "top": _docker("top", "", min_operands=1, max_operands=1),
        "port": _docker("port", "", min_operands=1, max_operands=2),
        "diff": _docker("diff", "", min_operands=1, max_operands=1),
    }
    listing = {
        "ls": _docker("ls", _DOCKER_LS, operands="none"),
        "list": _docker("list", _DOCKER_LS, operands="none"),
        "inspect": _docker("inspect", "-f/--format=TEMPLATE", min_operands=1),
    }
    image = {
        "ls": _docker("ls", _DOCKER_IMAGES, max_operands=1),
        "list": _docker("list", _DOCKER_IMAGES, max_operands=1),
        "inspect": _docker("inspect", "-f/--format=TEMPLATE --platform=PLATFORM", min_operands=1),
        "history": _docker(
            "history", f"{_FORMAT} -H/--human --no-trunc -q/--quiet", min_operands=1, max_operands=1
        ),
    }
    compose = {
        "ps": _docker(
            "ps",
            f"-a/--all {_FORMAT} -q/--quiet --services --status=STATUS --filter=FILTER --no-trunc",
        ),
        "logs": _docker("logs", f"{_DOCKER_LOGS} --no-color --no-log-prefix"),
        "top": _docker("top", ""),
        "images": _docker("images", f"{_FORMAT} -q/--quiet"),
        "ls": _docker("ls", f"-a/--all {_FORMAT} -q/--quiet --filter=FILTER", operands="none"),
        "version": _docker("version", "-f/--format=FORMAT --short", operands="none"),
    }
    return {
        "ps": _docker("ps", _DOCKER_PS, operands="none"),
        "images": _docker("images", _DOCKER_IMAGES, max_operands=1),
        "logs": container["logs"],
        "inspect": _docker("inspect", _DOCKER_INSPECT, min_operands=1),
        "stats": container["stats"],
        "top": container["top"],
        "port": container["port"],
        "diff": container["diff"],
        "history": image["history"],
        "version": _docker("version", "-f/--format=TEMPLATE", operands="none"),
        "info": _docker("info", "-f/--format=TEMPLATE", operands="none"),
        "container": _docker("container", verbs=container),
        "image": _docker("image", verbs=image),
        "volume": _docker("volume", verbs=listing),
        "network": _docker("network", verbs=listing),
        "system": _docker(
            "system",
            verbs={
                "df": _docker("df", f"{_FORMAT} -v/--verbose", operands="none"),
                "info": _docker("info", "-f/--format=TEMPLATE", operands="none"),
            },
        ),
        # compose reads the project's compose file; its global options stay off the list.
        "compose": _docker("compose", verbs=compose),
    }


DOCKER = Program("docker", _DOCKER_GLOBAL, verbs=_docker_verbs())
PODMAN = Program("podman", "--log-level=LEVEL", verbs=_docker_verbs())

PROGRAMS = [KUBECTL, DOCKER, PODMAN]
