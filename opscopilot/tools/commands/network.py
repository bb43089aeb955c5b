"""Rules for network tools: HTTP clients without uploads or output files only read."""

from __future__ import annotations

from opscopilot.tools.argv_parsing import parse_args
from opscopilot.tools.commands.judged import Judged, destructive, read, write

# --- network -----------------------------------------------------------------------------------

_CURL_VALUE = {
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "--data-ascii",
    "--json",
    "-F",
    "--form",
    "--form-string",
    "-H",
    "--header",
    "-o",
    "--output",
    "-T",
    "--upload-file",
    "-u",
    "--user",
    "-X",
    "--request",
    "-x",
    "--proxy",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-b",
    "--cookie",
    "-c",
    "--cookie-jar",
    "-D",
    "--dump-header",
    "-E",
    "--cert",
    "-K",
    "--config",
    "-m",
    "--max-time",
    "-r",
    "--range",
    "-w",
    "--write-out",
    "-y",
    "-Y",
    "-z",
    "-C",
    "-P",
    "-Q",
    "--quote",
    "-t",
    "--telnet-option",
    "--connect-timeout",
    "--resolve",
    "--retry",
    "--cacert",
    "--key",
    "--trace",
    "--trace-ascii",
    "--stderr",
    "--libcurl",
    "--url",
    "-U",
    "--proxy-user",
    "--output-dir",
    "--max-filesize",
    "--interface",
    "--limit-rate",
}
_CURL_WRITE = {
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "--data-ascii",
    "--json",
    "-F",
    "--form",
    "--form-string",
    "-T",
    "--upload-file",
    "-o",
    "--output",
    "-O",
    "--remote-name",
    "--remote-name-all",
    "-J",
    "--remote-header-name",
    "-D",
    "--dump-header",
    "-c",
    "--cookie-jar",
    "-K",
    "--config",
    "--trace",
    "--trace-ascii",
    "--stderr",
    "--libcurl",
    "--create-dirs",
    "-Q",
    "--quote",
    "--output-dir",
    "--etag-save",
    "--hsts",
    "--alt-svc",
}


def _non_http_urls(words: list[str]) -> list[str]:
    return [w for w in words if "://" in w and not w.lower().startswith(("http://", "https://"))]


def curl(args: list[str]) -> Judged:
    parsed = parse_args(args, _CURL_VALUE)
    risky = [name for name, _ in parsed.options if name in _CURL_WRITE]
    if risky:
        return write(f"curl {risky[0]} uploads data or writes a file")
    method = (parsed.value("-X", "--request") or "GET").upper()
    if method not in {"GET", "HEAD"}:
        return write(f"curl -X {method} can change the remote side")
    urls = parsed.positionals + [v for n, v in parsed.options if n == "--url" and v]
    if bad := _non_http_urls(urls):
        return write(f"curl {bad[0]} is not an http(s) URL")
    return read("curl GET only reads")


def wget(args: list[str]) -> Judged:
    parsed = parse_args(
        args,
        {
            "-O",
            "--output-document",
            "-o",
            "--output-file",
            "-a",
            "--append-output",
            "-P",
            "--directory-prefix",
            "--post-data",
            "--post-file",
            "--method",
            "--body-data",
            "--body-file",
            "-U",
            "--user-agent",
            "--header",
            "-T",
            "--timeout",
            "-t",
            "--tries",
            "-e",
            "--execute",
            "-i",
            "--input-file",
            "--user",
            "--password",
        },
    )
    if parsed.has(
        "--post-data",
        "--post-file",
        "--body-data",
        "--body-file",
        "-e",
        "--execute",
        "-o",
        "--output-file",
        "-a",
        "--append-output",
        "-r",
        "--recursive",
        "-m",
        "--mirror",
        "-i",
        "--input-file",
    ):
        return write("wget uploads data, runs wgetrc commands or writes files")
    method = (parsed.value("--method") or "GET").upper()
    if method not in {"GET", "HEAD"}:
        return write(f"wget --method {method} can change the remote side")
    if bad := _non_http_urls(parsed.positionals):
        return write(f"wget {bad[0]} is not an http(s) URL")
    if parsed.value("-O", "--output-document") == "-" or parsed.has("--spider"):
        return read("wget to stdout only reads")
    return write("wget saves a file unless given -O - or --spider")


def ping(args: list[str]) -> Judged:
    parsed = parse_args(args, {"-c", "-i", "-I", "-W", "-w", "-s", "-t", "-p", "-Q", "-l", "-M"})
    if parsed.has("-f"):
        return write("ping -f floods the network")
    if parsed.value("-c") is None:
        return write("ping without -c never ends")
    return read("ping -c only probes")


def ss(args: list[str]) -> Judged:
    if parse_args(args).has("-K", "--kill"):
        return destructive("ss -K kills sockets")
    return read("ss only reads")


def ip(args: list[str]) -> Judged:
    parsed = parse_args(
        args, {"-n", "-netns", "-f", "-family", "-b", "-batch", "-rc", "-l", "-loops"}
    )
    words = parsed.positionals
    if "flush" in words:
        return destructive("ip ... flush removes addresses or routes")
    if any(
        w
        in {
            "add",
            "del",
            "delete",
            "set",
            "change",
            "replace",
            "append",
            "prepend",
            "exec",
            "attach",
            "detach",
            "save",
            "restore",
        }
        for w in words
    ):
        return write("ip changes network configuration")
    return read("ip shows network state")


def iptables(args: list[str]) -> Judged:
    parsed = parse_args(
        args,
        {
            "-t",
            "--table",
            "-A",
            "--append",
            "-I",
            "--insert",
            "-D",
            "--delete",
            "-R",
            "--replace",
            "-N",
            "--new-chain",
            "-P",
            "--policy",
            "-X",
            "--delete-chain",
            "-F",
            "--flush",
            "-Z",
            "--zero",
            "-E",
            "--rename-chain",
            "-j",
            "-p",
            "-s",
            "-d",
            "-i",
            "-o",
            "--dport",
            "--sport",
            "-m",
            "-L",
            "--list",
            "-S",
            "--list-rules",
            "-w",
            "--wait",
        },
    )
    if parsed.has("-F", "--flush", "-X", "--delete-chain", "-D", "--delete", "-P", "--policy"):
        return destructive("iptables flushes, deletes or re-sets firewall rules")
    if parsed.has(
        "-A",
        "--append",
        "-I",
        "--insert",
        "-R",
        "--replace",
        "-N",
        "--new-chain",
        "-Z",
        "--zero",
        "-E",
        "--rename-chain",
    ):
        return write("iptables changes firewall rules")
    if parsed.has("-L", "--list", "-S", "--list-rules"):
        return read("iptables -L/-S only lists")
    return write("iptables without -L/-S may change firewall rules")


def nft(args: list[str]) -> Judged:
    words = parse_args(args, {"-f", "--file", "-I", "--includepath"}).positionals
    if words[:1] in (["flush"], ["delete"], ["destroy"]):
        return destructive(f"nft {words[0]} removes firewall rules")
    if words[:1] == ["list"]:
        return read("nft list only reads")
    return write("nft changes firewall rules")
