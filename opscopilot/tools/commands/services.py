"""Rules for service managers, containers and git: which subcommands only read."""

from __future__ import annotations

from collections.abc import Callable

from opscopilot.tools.argv_parsing import parse_args
from opscopilot.tools.commands.judged import Judged, destructive, first, read, write

# --- systemd -------------------------------------------------------------------------------

_SYSTEMCTL_READ = {
    "status",
    "show",
    "list-units",
    "list-unit-files",
    "list-timers",
    "list-sockets",
    "list-dependencies",
    "list-jobs",
    "list-machines",
    "list-automounts",
    "list-paths",
    "is-active",
    "is-enabled",
    "is-failed",
    "is-system-running",
    "cat",
    "get-default",
    "help",
}
_SYSTEMCTL_DESTRUCTIVE = {
    "stop",
    "disable",
    "mask",
    "kill",
    "poweroff",
    "reboot",
    "halt",
    "kexec",
    "isolate",
    "rescue",
    "emergency",
    "suspend",
    "hibernate",
    "hybrid-sleep",
    "suspend-then-hibernate",
    "switch-root",
    "clean",
    "soft-reboot",
}
_SYSTEMCTL_VALUE = {
    "-H",
    "--host",
    "-M",
    "--machine",
    "-t",
    "--type",
    "-p",
    "--property",
    "--state",
    "-n",
    "--lines",
    "-o",
    "--output",
    "-s",
    "--signal",
    "--root",
    "--kill-whom",
    "--what",
    "--job-mode",
    "--boot-loader-entry",
    "--timestamp",
}


def systemctl(args: list[str]) -> Judged:
    parsed = parse_args(args, _SYSTEMCTL_VALUE)
    verb = first(parsed) or "list-units"
    if verb in _SYSTEMCTL_READ:
        return read(f"systemctl {verb} only reads")
    if verb in _SYSTEMCTL_DESTRUCTIVE:
        return destructive(f"systemctl {verb} stops or disables services or the system")
    if verb == "show-environment":
        return write("systemctl show-environment may print secrets")
    return write(f"systemctl {verb} changes service state")


def service(args: list[str]) -> Judged:
    parsed = parse_args(args)
    if parsed.has("--status-all"):
        return read("service --status-all only reads")
    verb = parsed.positionals[1] if len(parsed.positionals) > 1 else ""
    if verb == "status":
        return read("service status only reads")
    if verb in {"stop", "force-stop"}:
        return destructive(f"service {verb} stops a service")
    return write(f"service {verb or '(no action)'} changes service state")


_JOURNALCTL_WRITE = (
    "--rotate",
    "--flush",
    "--sync",
    "--relinquish-var",
    "--smart-relinquish-var",
    "--setup-keys",
    "--update-catalog",
    "--new-id128",
)


def journalctl(args: list[str]) -> Judged:
    parsed = parse_args(
        args,
        {
            "-u",
            "--unit",
            "-n",
            "--lines",
            "-p",
            "--priority",
            "-o",
            "--output",
            "-S",
            "--since",
            "-U",
            "--until",
            "-b",
            "--boot",
            "-t",
            "--identifier",
            "-D",
            "--directory",
            "--file",
            "-M",
            "--machine",
            "-g",
            "--grep",
            "--user-unit",
            "-F",
            "--field",
            "--output-fields",
            "--facility",
            "-_",
            "--root",
            "--cursor",
        },
    )
    if parsed.long_prefixed("--vacuum"):
        return destructive("journalctl --vacuum-* deletes journal files")
    if parsed.has(*_JOURNALCTL_WRITE):
        return write("journalctl with a flag that changes the journal's state")
    return read("journalctl only reads")


def ctl(
    name: str,
    read_verbs: set[str],
    destructive_verbs: frozenset[str] = frozenset(),
    default_read: bool = True,
) -> Callable[[list[str]], Judged]:
    def rule(args: list[str]) -> Judged:
        parsed = parse_args(args, {"-H", "--host", "-M", "--machine", "-p", "--property"})
        verb = first(parsed)
        if (not verb and default_read) or verb in read_verbs:
            return read(f"{name} {verb or ''} only reads".replace("  ", " "))
        if verb in destructive_verbs:
            return destructive(f"{name} {verb} ends sessions or removes state")
        return write(f"{name} {verb} changes state")

    return rule


# --- containers ------------------------------------------------------------------------------

_KUBECTL_READ = {
    "get",
    "describe",
    "logs",
    "top",
    "explain",
    "version",
    "api-resources",
    "api-versions",
    "cluster-info",
    "events",
    "wait",
}
_KUBECTL_DESTRUCTIVE = {"delete", "drain", "replace"}
_KUBECTL_VALUE = {
    "-n",
    "--namespace",
    "--context",
    "--kubeconfig",
    "-s",
    "--server",
    "--cluster",
    "--user",
    "--token",
    "-v",
    "-o",
    "--output",
    "-l",
    "--selector",
    "-c",
    "--container",
    "-f",
    "--filename",
    "--field-selector",
    "--since",
    "--tail",
    "--as",
    "--as-group",
    "--request-timeout",
    "--sort-by",
    "--template",
    "-p",
    "--pod-running-timeout",
    "--certificate-authority",
    "--client-key",
    "--client-certificate",
    "--cache-dir",
    "--timeout",
    "--for",
    "-L",
}


def kubectl(args: list[str]) -> Judged:
    if "--" in args:
        own, inner = args[: args.index("--")], args[args.index("--") + 1 :]
    else:
        own, inner = args, []
    parsed = parse_args(own, _KUBECTL_VALUE)
    verb = first(parsed)
    words = parsed.positionals
    if verb in {"exec", "attach", "debug", "run"}:
        if verb == "exec" and inner:
            return Judged("write", "kubectl exec runs a command in a container", inner)
        return write(f"kubectl {verb} runs something in the cluster")
    if verb in {"get", "describe"} and any(w.startswith("secret") for w in words[1:]):
        output = parsed.value("-o", "--output") or ""
        if verb == "describe" or output.split("=")[0] in {
            "yaml",
            "json",
            "jsonpath",
            "go-template",
            "go-template-file",
            "jsonpath-file",
        }:
            return write("prints secret values")
    if verb == "config":
        sub = words[1] if len(words) > 1 else ""
        if sub in {"get-contexts", "current-context", "get-clusters", "get-users"} or (
            sub == "view" and not parsed.has("--raw")
        ):
            return read(f"kubectl config {sub} only reads")
        return write(f"kubectl config {sub} changes or reveals credentials")
    if verb == "auth" and len(words) > 1 and words[1] in {"can-i", "whoami"}:
        return read("kubectl auth only reads")
    if verb == "rollout" and len(words) > 1 and words[1] in {"status", "history"}:
        return read(f"kubectl rollout {words[1]} only reads")
    if verb in _KUBECTL_READ:
        if parsed.has("--raw") and verb == "get":
            return write("kubectl get --raw can reach any API path")
        return read(f"kubectl {verb} only reads")
    if verb in _KUBECTL_DESTRUCTIVE:
        return destructive(f"kubectl {verb} removes or evicts cluster objects")
    return write(f"kubectl {verb or '(no command)'} changes the cluster")


_DOCKER_READ = {
    "ps",
    "logs",
    "inspect",
    "stats",
    "images",
    "version",
    "info",
    "top",
    "port",
    "diff",
    "history",
    "events",
    "search",
}
_DOCKER_DESTRUCTIVE = {"rm", "rmi", "kill"}
_DOCKER_MANAGEMENT = {
    "container": (
        {"ls", "list", "ps", "inspect", "logs", "stats", "top", "port", "diff"},
        {"rm", "prune", "kill"},
    ),
    "image": ({"ls", "list", "inspect", "history"}, {"rm", "prune"}),
    "volume": ({"ls", "list", "inspect"}, {"rm", "prune"}),
    "network": ({"ls", "list", "inspect"}, {"rm", "prune"}),
    "system": ({"df", "info", "events"}, {"prune"}),
    "builder": ({"ls"}, {"prune"}),
    "compose": ({"ps", "logs", "top", "images", "ls", "version", "events"}, {"down", "rm", "kill"}),
}
_DOCKER_VALUE = {
    "-H",
    "--host",
    "--context",
    "-c",
    "--config",
    "-l",
    "--log-level",
    "-f",
    "--filter",
    "--format",
    "-n",
    "--tail",
    "--since",
    "--until",
    "-u",
    "--user",
    "-w",
    "--workdir",
    "-e",
    "--env",
    "--env-file",
    "-p",
    "--project-name",
    "--file",
    "--project-directory",
    "--profile",
}


def docker(args: list[str]) -> Judged:
    parsed = parse_args(args, _DOCKER_VALUE, stop_at_positional=True)
    rest = parsed.rest
    verb = rest[0] if rest else ""
    if verb == "exec":
        sub = parse_args(rest[1:], _DOCKER_VALUE, stop_at_positional=True)
        inner = sub.rest[1:]
        return Judged("write", "docker exec runs a command in a container", inner or None)
    if verb in _DOCKER_MANAGEMENT:
        sub = parse_args(rest[1:], _DOCKER_VALUE)
        action = first(sub)
        reads, destroys = _DOCKER_MANAGEMENT[verb]
        if action in reads:
            return read(f"docker {verb} {action} only reads")
        if action in destroys:
            return destructive(f"docker {verb} {action} removes containers, images or data")
        if verb == "compose" and action == "config":
            return write("docker compose config may print secrets")
        return write(f"docker {verb} {action} changes state")
    if verb in _DOCKER_READ:
        return read(f"docker {verb} only reads")
    if verb in _DOCKER_DESTRUCTIVE:
        return destructive(f"docker {verb} removes or kills containers or images")
    return write(f"docker {verb or '(no command)'} changes state")


# --- git ---------------------------------------------------------------------------------------

_GIT_READ = {
    "status",
    "log",
    "diff",
    "show",
    "blame",
    "ls-files",
    "rev-parse",
    "describe",
    "shortlog",
    "reflog-show",
    "grep",
    "ls-remote",
    "whatchanged",
    "cat-file",
    "ls-tree",
    "rev-list",
    "version",
    "help",
}
_GIT_VALUE = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"}


def git(args: list[str]) -> Judged:
    parsed = parse_args(args, _GIT_VALUE, stop_at_positional=True)
    if parsed.has("-c", "--exec-path"):
        return write("git -c/--exec-path can make git run other programs")
    rest = parsed.rest
    verb = rest[0] if rest else ""
    sub = parse_args(
        rest[1:],
        {
            "-m",
            "--message",
            "-u",
            "--set-upstream-to",
            "--format",
            "-n",
            "--max-count",
            "--since",
            "--until",
            "--author",
        },
    )
    if verb == "push":
        forced = sub.has(
            "-f", "--force", "--force-with-lease", "--mirror", "--delete", "-d", "--prune"
        ) or any(p.startswith("+") or p.startswith(":") for p in sub.positionals)
        if forced:
            return destructive("git push --force/--delete rewrites or removes remote history")
        return write("git push changes a remote")
    if verb == "branch":
        if sub.has("-D") or (sub.has("-d", "--delete") and sub.has("-f", "--force")):
            return destructive("git branch -D deletes a branch")
        if sub.has(
            "-d",
            "--delete",
            "-m",
            "-M",
            "--move",
            "-c",
            "-C",
            "--copy",
            "--set-upstream-to",
            "-u",
            "--unset-upstream",
            "--edit-description",
        ):
            return write("git branch changes branches")
        if sub.positionals and not sub.has(
            "--list", "-l", "--contains", "--merged", "--no-merged", "--points-at"
        ):
            return write("git branch NAME creates a branch")
        return read("git branch lists branches")
    if verb == "tag":
        if sub.has("-d", "--delete"):
            return destructive("git tag -d deletes a tag")
        if sub.positionals and not sub.has("-l", "--list", "--contains", "--points-at"):
            return write("git tag NAME creates a tag")
        return read("git tag lists tags")
    if verb == "reset" and sub.has("--hard", "--merge", "--keep"):
        return destructive("git reset --hard discards work")
    if verb == "clean" and not sub.has("-n", "--dry-run"):
        return destructive("git clean deletes untracked files")
    if verb == "stash" and sub.positionals[:1] in (["drop"], ["clear"]):
        return destructive("git stash drop/clear discards stashed work")
    if verb == "stash" and sub.positionals[:1] in (["list"], ["show"]):
        return read("git stash list/show only reads")
    if verb == "remote" and (not sub.positionals or sub.positionals[0] in {"show", "get-url"}):
        return read("git remote only reads")
    if verb in {"filter-branch", "filter-repo"} or (
        verb == "reflog" and "expire" in sub.positionals
    ):
        return destructive(f"git {verb} rewrites history")
    if verb == "reflog" and (not sub.positionals or sub.positionals[0] == "show"):
        return read("git reflog only reads")
    if verb == "config" and sub.has("--get", "--get-all", "--list", "-l", "--get-regexp"):
        return read("git config --get/--list only reads")
    if verb in _GIT_READ:
        return read(f"git {verb} only reads")
    return write(f"git {verb or '(no command)'} changes the repository")
