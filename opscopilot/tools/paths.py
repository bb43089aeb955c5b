"""Which paths hold secrets (reading them needs approval) and which must never be read at all."""

from __future__ import annotations

import fnmatch
import os
import re

# Matched against the resolved (realpath) path; reading these needs the operator's approval.
_SENSITIVE_GLOBS = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d/*",
    "/etc/ssl/private/*",
    "/etc/ssh/ssh_host_*",
    "*/.ssh/*",
    "*/.gnupg/*",
    "*/.aws/*",
    "*/.azure/*",
    "*/.config/gcloud/*",
    "*/.kube/config",
    "*/.docker/config.json",
    "*/.netrc",
    "*/.pgpass",
    "*/.my.cnf",
    "*/.git-credentials",
    "*/.npmrc",
    "*/.pypirc",
    "*/.vault-token",
    "*_history",
    "/proc/*/environ",
    # Service credentials that live under names the patterns below do not catch.
    "/etc/kubernetes/*.conf",
    "/etc/rancher/*",
    "/etc/wireguard/*",
    "/etc/NetworkManager/system-connections/*",
    "/etc/mysql/debian.cnf",
    "/etc/krb5.keytab",
    "*.keytab",
    "*/.config/gh/hosts.yml",
    "*/.config/hub",
    "*/.config/rclone/rclone.conf",
    "*/.boto",
    "*/.s3cfg",
    "*/.terraformrc",
    "*/.cargo/credentials*",
    "*/.gem/credentials",
    "*/.local/share/keyrings/*",
    "*/.password-store/*",
    "*/.kube/*",
    "*/.docker/*",
)
# Matched against the file name alone.
_SENSITIVE_NAMES = re.compile(
    r"(key|secret|token|password|credential|\.pem$|\.p12$|\.pfx$|\.jks$|\.keystore$|"
    r"^id_(rsa|dsa|ecdsa|ed25519)|^\.env$|^\.env\.|\.env$|^htpasswd$|^\.htpasswd$)",
    re.IGNORECASE,
)
# Reading these can hang, dump kernel memory or is meaningless: refused outright.
_FORBIDDEN_GLOBS = (
    "/proc/kcore",
    "/proc/kmsg",
    "/proc/kmem",
    "/proc/kpage*",
    "/proc/*/mem",
    "/proc/*/pagemap",
    "/proc/sysrq-trigger",
    "/dev/*",
    "/sys/kernel/debug/*",
)


def resolve(path: str, cwd: str | None = None) -> str:
    """`~` expanded, relative to cwd, symlinks and `..` resolved (what would really be opened)."""
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        expanded = os.path.join(cwd or os.getcwd(), expanded)
    return os.path.realpath(expanded)


def _opscopilot_config() -> str | None:
    # config.toml may hold provider keys; resolving it must never fail a classification.
    try:
        from opscopilot import config

        return os.path.realpath(config.config_path())
    except Exception:  # a broken environment just means no extra path
        return None


def _opscopilot_data() -> str | None:
    # The database and recordings: the sandbox hides them from programs, and so here.
    try:
        from opscopilot import config

        return os.path.realpath(config.data_dir())
    except Exception:
        return None


def is_sensitive_path(resolved: str) -> bool:
    """True when a resolved path probably holds credentials."""
    if any(fnmatch.fnmatchcase(resolved, pattern) for pattern in _SENSITIVE_GLOBS):
        return True
    if _SENSITIVE_NAMES.search(os.path.basename(resolved)):
        return True
    data = _opscopilot_data()
    if data is not None and (resolved == data or resolved.startswith(data + os.sep)):
        return True
    return resolved == _opscopilot_config()


def is_forbidden_path(resolved: str) -> bool:
    """True for kernel memory, devices and other files a read tool must never open."""
    return any(fnmatch.fnmatchcase(resolved, pattern) for pattern in _FORBIDDEN_GLOBS)
