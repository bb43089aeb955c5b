"""Allow-list: network probes and network state (curl, wget, dig, ping, ss, ip, iptables …).

HTTP clients may only GET or HEAD an explicit http(s) URL whose host is not a metadata,
link-local or loopback-admin address (judged by `addresses.host_problem`, every spelling).
Left out on purpose (they ask): uploads and bodies (`-d`, `-F`, `-T`, `--json`,
`--post-file`), header or cookie values read from files (`-H @file`, `-b file`),
`--url-query`, output files (`-o F` other than /dev/null, `-O`, `--output-dir`, `-D`,
`-c`, `--trace`, `wget --save-cookies/--warc-file/-o`), config files (`-K`, `-e`),
redirects (`-L`, wget without `--max-redirect=0`: a redirect could lead to a metadata
address), `--resolve`/`--connect-to`/proxies, `ss -K`/`-D`/`-F`, `ip -b`/`-n`, `ip netns exec`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from opscopilot.tools.addresses import host_problem
from opscopilot.tools.commands.allowed import Allowed, Program, allowed, refused
from opscopilot.tools.option_tables import NUMBER, ParsedOptions, one_of


def url_problem(url: str) -> str | None:
    """Why an HTTP client may not fetch `url` without a person, or None."""
    if not re.match(r"(?i)^https?://", url):
        return f"{url!r} is not an explicit http:// or https:// URL"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{url!r} is not a URL that can be judged"
    if not host or "@" in parts.netloc:
        return f"{url!r} has no host, or credentials in it"
    if any(c in url for c in "{}[]") and not parts.netloc.startswith("["):
        return f"{url!r} uses URL globbing"
    default = 443 if parts.scheme.lower() == "https" else 80
    return host_problem(host, port or default)


def _urls(operands: list[str], parsed: ParsedOptions) -> str | None:
    urls = operands + parsed.values("--url")
    if not urls:
        return "no URL"
    for url in urls:
        if why := url_problem(url):
            return why
    return None


def _no_file_reference(value: str) -> str | None:
    return "a value starting with @ is read from a file" if value.startswith("@") else None


def _write_out(value: str) -> str | None:
    if value.startswith("@"):
        return "a format starting with @ is read from a file"
    if "%output{" in value or "%{stderr}" in value.replace(" ", ""):
        return "%output{…} writes a file"
    return None


CURL = Program(
    "curl",
    "-s/--silent -S/--show-error -I/--head -i/--include -v/--verbose -k/--insecure -f/--fail "
    "--fail-with-body -m/--max-time=SECONDS --connect-timeout=SECONDS -w/--write-out=FORMAT "
    "-o/--output=PATH -H/--header=HEADER -A/--user-agent=NAME -e/--referer=URL "
    "-X/--request=METHOD --compressed -4/--ipv4 -6/--ipv6 --http1.0 --http1.1 --http2 "
    "-0 --http2-prior-knowledge -N/--no-buffer --max-filesize=BYTES --retry=N --retry-delay=SECONDS "
    "--retry-max-time=SECONDS -r/--range=RANGE --url=URL -q/--disable --no-progress-meter "
    "-#/--progress-bar --tlsv1.2 --tlsv1.3 --ssl-reqd --cacert=FILE --cert-status "
    "-Z/--parallel --raw --tr-encoding --path-as-is -h/--help -V/--version",
    abbreviations="gnu",
    checks={
        "--request": one_of("GET", "HEAD"),
        "--output": one_of("/dev/null", "-"),
        "--header": _no_file_reference,
        "--write-out": _write_out,
        "--max-time": NUMBER,
        "--connect-timeout": NUMBER,
    },
    operand_check=_urls,
    network=True,
    reason="curl GET/HEAD only reads",
    others=(
        "--user --url-query --output-dir --header-file --request-target --proxy --tlsv1 "
        "--tlsv1.0 --tlsv1.1 --ssl --cert"
    ),
)


def _wget_operands(operands: list[str], parsed: ParsedOptions) -> str | None:
    if not parsed.has("--spider") and parsed.values("-O", "--output-document") != ["-"]:
        return "wget saves a file unless given -O - or --spider"
    if parsed.values("--max-redirect") != ["0"]:
        return "wget follows redirects (to any address) unless given --max-redirect=0"
    return _urls(operands, parsed)


WGET = Program(
    "wget",
    "-q/--quiet -v/--verbose -n=NV --no-verbose -S/--server-response --spider "
    "-O/--output-document=FILE -T/--timeout=SECONDS --dns-timeout=SECONDS "
    "--connect-timeout=SECONDS --read-timeout=SECONDS -t/--tries=N --no-check-certificate "
    "-U/--user-agent=AGENT --header=STRING --max-redirect=N -4/--inet4-only -6/--inet6-only "
    "--no-cache --no-cookies --no-dns-cache --method=METHOD -h/--help -V/--version",
    abbreviations="gnu",
    checks={
        "--output-document": one_of("-"),
        "-n": one_of("v"),
        "--method": one_of("GET", "HEAD", case=False),
    },
    operand_check=_wget_operands,
    network=True,
    others="--user --output-file --method-file",
    reason="wget to stdout only reads",
)

_DIG_QUERY_OPTIONS = re.compile(
    r"^\+(no)?(short|answer|authority|additional|question|comments|stats|all|cmd|"
    r"recurse|trace|tcp|vc|dnssec|cdflag|adflag|aaonly|multiline|ttlid|ttlunits|cl|class|"
    r"identify|nsid|search|showsearch|defname|fail|besteffort|rrcomments|crypto|split=\d+|"
    r"time=\d+|tries=\d+|retry=\d+|ndots=\d+|bufsize=\d+|edns(=\d+)?|subnet=[0-9a-f.:/]+|"
    r"nssearch|idnin|idnout|unknownformat|yaml|expire|keepopen|qr|opcode=\w+|padding=\d+)$"
)


def _dig_operands(operands: list[str], parsed: ParsedOptions) -> str | None:
    for word in operands:
        if word.startswith("+") and not _DIG_QUERY_OPTIONS.match(word):
            return f"{word} is not an allowed query option"
    return None


DIG = Program(
    "dig",
    "-4 -6 -t=TYPE -c=CLASS -x=ADDRESS -p=PORT -q=NAME -b=ADDRESS -m -r -u -h -v",
    operand_check=_dig_operands,
    network=True,
)


def _nslookup_operands(operands: list[str], parsed: ParsedOptions) -> str | None:
    if len(operands) > 2:
        return "takes a name and an optional server"
    return None


def nslookup(args: list[str], cwd: str | None) -> Allowed:
    """`nslookup [-type=T|-query=T|-timeout=N|-port=N|-debug] NAME [SERVER]`."""
    words = []
    for word in args:
        if word.startswith("-"):
            key, _, value = word[1:].partition("=")
            if key.lower() not in {
                "type",
                "query",
                "querytype",
                "q",
                "timeout",
                "port",
                "retry",
                "debug",
                "nodebug",
                "d2",
                "nod2",
                "vc",
                "novc",
                "recurse",
                "norecurse",
                "class",
                "fail",
                "nofail",
            }:
                return refused(f"nslookup: {word} is not an allowed option")
            if value and not re.fullmatch(r"[A-Za-z0-9]+", value):
                return refused(f"nslookup: {word} has an odd value")
        else:
            words.append(word)
    if not words or len(words) > 2:
        return refused("nslookup takes a name and an optional server (interactive otherwise)")
    return allowed("nslookup only queries DNS", network=True)


PROGRAMS = [
    CURL,
    WGET,
    DIG,
    Program(
        "host",
        "-a -A -c=CLASS -C -d -l -m=FLAG -N=N -r -R=N -s -t=TYPE -T -U -v -V -w -W=SECONDS -4 -6",
        max_operands=2,
        network=True,
    ),
    Program(
        "ping",
        "-c=COUNT -i=INTERVAL -W=TIMEOUT -w=DEADLINE -s=SIZE -t=TTL -q -n -4 -6 -D -O -a -A "
        "-I=INTERFACE -U -v -V -h",
        max_operands=1,
        min_operands=1,
        checks={"-c": NUMBER, "-i": NUMBER, "-w": NUMBER, "-W": NUMBER, "-s": NUMBER},
        operand_check=lambda ops, parsed: (
            None if parsed.has("-c") else "ping without -c never ends"
        ),
        network=True,
        reason="ping -c only probes",
    ),
    *[
        Program(
            name,
            "-4 -6 -I/--icmp -T/--tcp -U/--udp -n -m/--max-hops=N -q/--queries=N -w/--wait=SECONDS "
            "-p/--port=PORT -f/--first=N -N/--sim-queries=N -A/--as-path-lookups -e/--extensions "
            "-V/--version --help",
            max_operands=2,
            network=True,
        )
        for name in ("traceroute", "traceroute6")
    ],
    Program("tracepath", "-4 -6 -n -b -l=LEN -m=HOPS -p=PORT -V", max_operands=1, network=True),
    Program(
        "mtr",
        "-r/--report -w/--report-wide -c/--report-cycles=COUNT -n/--no-dns -b/--show-ips "
        "-4 -6 -T/--tcp -u/--udp -P/--port=PORT -i/--interval=SECONDS -m/--max-ttl=N "
        "-o/--order=FIELDS -j/--json -C/--csv -x/--xml -z/--aslookup -h/--help -v/--version",
        max_operands=1,
        network=True,
        abbreviations="gnu",
        operand_check=lambda ops, parsed: (
            None
            if parsed.has("-r", "-w", "-j", "-C", "-x") and parsed.has("-c")
            else "mtr without --report and -c is interactive"
        ),
    ),
    Program(
        "whois",
        "-H -I -B -G -r -a -l -L -M -c -x -b -h=HOST -p=PORT -T=TYPES -i=ATTRS -s=SOURCES",
        max_operands=1,
        network=True,
    ),
    Program(
        "ss",
        "-h/--help -V/--version -H/--no-header -O/--oneline -n/--numeric -r/--resolve "
        "-a/--all -l/--listening -o/--options -e/--extended -m/--memory -p/--processes "
        "-T/--threads -i/--info --tos --cgroup --tipcinfo -s/--summary -E/--events -Z/--context "
        "-z/--contexts -b/--bpf -4/--ipv4 -6/--ipv6 -0/--packet -t/--tcp -M/--mptcp -S/--sctp "
        "-u/--udp -d/--dccp -w/--raw -x/--unix --tipc --vsock --xdp --inet-sockopt "
        "-f/--family=FAMILY -A/--query/--socket=QUERY",
        abbreviations="gnu",
        reason="ss only lists sockets",
    ),
    Program(
        "netstat",
        "-r/--route -i/--interfaces -g/--groups -s/--statistics -M/--masquerade -v/--verbose "
        "-W/--wide -n/--numeric --numeric-hosts --numeric-ports --numeric-users -N/--symbolic "
        "-e/--extend -p/--programs -o/--timers -l/--listening -a/--all -F -C -t/--tcp -u/--udp "
        "-w/--raw -x/--unix -4 -6 -A=FAMILY -h/--help -V/--version",
        operands="none",
        abbreviations="gnu",
    ),
    Program(
        "iptables",
        "-L/--list -S/--list-rules -n/--numeric -v/--verbose -x/--exact --line-numbers "
        "-t/--table=TABLE -w/--wait[=SECONDS] -4/--ipv4 -6/--ipv6 -h/--help -V/--version",
        max_operands=1,
        abbreviations="gnu",
        operand_check=lambda ops, parsed: (
            None if parsed.has("-L", "-S") else "iptables without -L/-S may change rules"
        ),
        reason="iptables -L/-S only lists",
    ),
    Program(
        "ufw",
        "",
        operand_check=lambda ops, parsed: (
            None
            if ops[:1] == ["status"] and set(ops[1:]) <= {"verbose", "numbered"}
            else "ufw changes firewall rules"
        ),
        reason="ufw status only reads",
    ),
]
PROGRAMS.append(
    Program(
        "ip6tables",
        PROGRAMS[[p.name for p in PROGRAMS].index("iptables")].options,
        max_operands=1,
        abbreviations="gnu",
        operand_check=lambda ops, parsed: None if parsed.has("-L", "-S") else "may change rules",
    )
)


def _nft_words(operands: list[str], parsed: ParsedOptions) -> str | None:
    if operands[:1] != ["list"]:
        return "only nft list reads"
    # The words are joined into one nft script: `;` or braces would start another command.
    bad = [w for w in operands if not re.fullmatch(r"[A-Za-z0-9_.:-]+", w)]
    return f"{bad[0]!r} could start another nft command" if bad else None


PROGRAMS.append(
    Program(
        "nft",
        "-a/--handle -n/--numeric -N/--reversedns -s/--stateless -S/--service -y/--numeric-priority "
        "-p/--numeric-protocol -T/--numeric-time -t/--terse -j/--json -u/--guid -h/--help "
        "-v/--version",
        operand_check=_nft_words,
        reason="nft list only reads",
    )
)


# --- ip (iproute2): its own matching, where any prefix of a word counts -----------------------

# ip's options in the order ip.c tries them (the first one an abbreviation matches wins).
_IP_OPTIONS = [
    "loops",
    "family",
    "human",
    "human-readable",
    "iec",
    "stats",
    "statistics",
    "details",
    "resolve",
    "oneline",
    "timestamp",
    "tshort",
    "Version",
    "force",
    "batch",
    "brief",
    "json",
    "pretty",
    "rcvbuf",
    "color",
    "colour",
    "help",
    "netns",
    "Numeric",
    "all",
    "echo",
]
_IP_SAFE_OPTIONS = set(
    [
        "human",
        "human-readable",
        "iec",
        "stats",
        "statistics",
        "details",
        "resolve",
        "oneline",
        "timestamp",
        "tshort",
        "Version",
        "brief",
        "json",
        "pretty",
        "color",
        "colour",
        "help",
        "Numeric",
        "all",
    ]
)
# Objects in ip.c's order; a prefix means the first object it starts.
_IP_OBJECTS = [
    "address",
    "addrlabel",
    "maddress",
    "route",
    "rule",
    "neighbor",
    "neighbour",
    "ntable",
    "ntbl",
    "link",
    "l2tp",
    "fou",
    "ila",
    "macsec",
    "tunnel",
    "tunl",
    "tuntap",
    "tap",
    "token",
    "tcpmetrics",
    "tcp_metrics",
    "monitor",
    "xfrm",
    "mroute",
    "mrule",
    "netns",
    "netconf",
    "vrf",
    "sr",
    "nexthop",
    "mptcp",
    "ioam",
    "help",
    "stats",
]
_IP_READ_OBJECTS = set(
    [
        "address",
        "addrlabel",
        "maddress",
        "route",
        "rule",
        "neighbor",
        "neighbour",
        "ntable",
        "ntbl",
        "link",
        "tunnel",
        "tunl",
        "tuntap",
        "tap",
        "netconf",
        "vrf",
        "nexthop",
        "mroute",
        "mrule",
        "stats",
        "netns",
        "help",
    ]
)
# Verbs are only accepted written out: `ip l s` is `ip link set`.
_IP_READ_VERBS = {"show", "list", "lst", "ls"}
_IP_GET = {"route", "neighbor", "neighbour", "mroute", "nexthop", "netconf"}
_IP_WORD = re.compile(r"[A-Za-z0-9_.:/@%+=-]+")


def ip(args: list[str], cwd: str | None) -> Allowed:
    """`ip [OPTIONS] OBJECT [show|list …]`: every option and the object resolved as ip does."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        word = args[i]
        if word == "--":
            i += 1
            break
        bare = word.lstrip("-")
        name, _, value = bare.partition("=")
        if name in ("4", "6", "0"):
            i += 1
            continue
        candidates = [o for o in _IP_OPTIONS if name and o.startswith(name)]
        if not candidates or not set(candidates) <= _IP_SAFE_OPTIONS:
            return refused(f"ip: {word} is not an allowed option (or may mean one that is not)")
        if value and not ("color".startswith(name) and value in ("auto", "always", "never")):
            return refused(f"ip: {word} takes no value")
        i += 1
    rest = args[i:]
    if not rest:
        return refused("ip without an object")
    matches = [o for o in _IP_OBJECTS if o.startswith(rest[0])]
    if not matches or matches[0] not in _IP_READ_OBJECTS:
        return refused(f"ip {rest[0]} is not a read-only object")
    obj = matches[0]
    verb = rest[1] if len(rest) > 1 else "show"
    if verb not in _IP_READ_VERBS and not (verb == "get" and obj in _IP_GET):
        return refused(f"ip {obj} {verb}: only show/list (written out) run without asking")
    if obj == "netns" and verb not in ("list", "show", "ls", "lst"):
        return refused("ip netns runs commands in other namespaces")
    bad = [w for w in rest[2:] if not _IP_WORD.fullmatch(w)]
    if bad:
        return refused(f"ip: {bad[0]!r} is not an allowed argument")
    return allowed(f"ip {obj} {verb} only shows network state")
