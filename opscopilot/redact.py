"""Secret redaction: the one filter every byte passes before it reaches disk, a screen or an
error line.

Two ways to know a secret. **Known values**: every key this process holds is registered
(`register_secret`): provider keys as they are read, environment variables whose names say
key/token/secret/password (`register_environment_secrets`), config.toml values under such
names (`register_config_secrets`), MCP server tokens; their exact text is masked wherever
it appears, whatever its shape. **Shapes**: `TOKENS`, credentials that identify themselves
(cloud, model-provider, VCS, registry, chat, payment, SaaS tokens, JWTs), and `CONTEXT`,
values known by what surrounds them (private-key blocks, passwords in URLs, Authorization,
Bearer and Basic values, `password=`/`token:` labels). A rule with a label keeps it
("Bearer [REDACTED]", "postgres://app:[REDACTED]@db") so the text still reads.

Fast by construction: tokens are searched for only in words long enough to be one (a
`str.split` is far cheaper than a regex over prose), and a context rule runs only on text
that holds one of its trigger words (`in` on the lower-cased text), all active rules in one
compiled regex. `StreamRedactor` masks text that arrives in pieces (stdout of `prompt` and
`run`): it holds back the unfinished end, so a key split across deltas is masked whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

MASK = "[REDACTED]"

# Names of variables and config keys whose values are secrets.
_SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_AUTH|^AUTH|PRIVATE|APIKEY|_PWD$|_PASS$|DSN$",
    re.IGNORECASE,
)
# A value after "Bearer" must hold a digit, a symbol or mixed case (not one prose word).
_NOT_A_WORD = r"(?=[^\s\"'&,;]*(?:[0-9+/=_.~-]|[a-z][^\s\"'&,;]*[A-Z]|[A-Z][^\s\"'&,;]*[a-z]))"

# Self-identifying tokens: one word, no whitespace, a shape of their own.
TOKENS: tuple[tuple[str, str], ...] = (
    ("age-key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    (
        "aws-access-key-id",
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}"
        r"(?![A-Z0-9])",
    ),
    ("google-api-key", r"AIza[0-9A-Za-z_\-]{30,}"),
    ("google-oauth-secret", r"GOCSPX-[A-Za-z0-9_\-]{20,}"),
    ("google-oauth-token", r"ya29\.[0-9A-Za-z_\-]{20,}"),
    ("azure-ad-secret", r"[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}"),
    ("digitalocean", r"do[opr]_v1_[a-f0-9]{64}"),
    ("databricks", r"dapi[a-f0-9]{32}(?:-\d)?"),
    ("anthropic", r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    ("openai", r"sk-(?:proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_\-]{16,}"),
    ("huggingface", r"(?:hf|api_org)_[A-Za-z0-9]{30,}"),
    ("groq", r"gsk_[A-Za-z0-9]{20,}"),
    ("xai", r"xai-[A-Za-z0-9]{20,}"),
    ("replicate", r"r8_[A-Za-z0-9]{30,}"),
    ("github", r"gh[pousr]_[A-Za-z0-9]{20,}"),
    ("github-fine-grained", r"github_pat_[A-Za-z0-9_]{30,}"),
    ("gitlab", r"gl(?:pat|dt|rt|ptt|soat|cbt|imt|agent|oas|ft)-[A-Za-z0-9_\-]{20,}"),
    ("gitlab-runner", r"GR1348941[A-Za-z0-9_\-]{20,}"),
    ("npm", r"npm_[A-Za-z0-9]{36}"),
    ("pypi", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{20,}"),
    ("docker-hub", r"dckr_pat_[A-Za-z0-9_\-]{20,}"),
    ("atlassian", r"ATATT3[A-Za-z0-9_\-=]{30,}"),
    ("bitbucket", r"ATBB[A-Za-z0-9_\-=]{28,}"),
    ("slack-token", r"xox[abposrce]-[A-Za-z0-9\-]{10,}"),
    ("slack-app-token", r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+"),
    ("telegram-bot", r"\d{8,10}:AA[A-Za-z0-9_\-]{32,}"),
    ("stripe", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("stripe-webhook", r"whsec_[A-Za-z0-9]{20,}"),
    ("square", r"(?:sq0atp|sq0csp|EAAA)[A-Za-z0-9_\-]{22,}"),
    ("shopify", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    ("sendgrid", r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{30,}"),
    ("mailgun", r"key-[0-9a-f]{32}"),
    ("mailchimp", r"[0-9a-f]{32}-us\d{1,2}"),
    ("twilio-api-key", r"SK[0-9a-fA-F]{32}(?![0-9a-fA-F])"),
    ("grafana", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2}"),
    ("newrelic", r"NR(?:AK|AA|II|JS)-[A-Za-z0-9]{20,}"),
    ("sentry", r"sntr[ysu]_[A-Za-z0-9+/=_]{40,}"),
    ("linear", r"lin_api_[A-Za-z0-9]{30,}"),
    ("notion", r"(?:secret|ntn)_[A-Za-z0-9]{40,}"),
    ("postman", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("doppler", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}"),
    ("vault", r"hv[sbr]\.[A-Za-z0-9_\-]{24,}"),
    ("pulumi", r"pul-[a-f0-9]{40}"),
    ("terraform-cloud", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,}"),
    ("jwt", r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    # opscopilot's own operator tokens (`serve token add`: ocp_ and 32 url-safe base64 bytes)
    ("opscopilot-operator", r"ocp_[A-Za-z0-9_\-]{40,}"),
)
MIN_TOKEN = 15  # the shortest match of TOKENS ("sk-ant-" and 8); shorter words are skipped

# Values known by their context: a label before them ("Bearer ", "password=", a URL's
# "user:"), or a shape that spans whitespace (a PEM block). (name, triggers, folded, label,
# value): a rule runs only on text that holds one of its triggers (lower case); a `folded`
# rule is written in lower case and matched on the lower-cased text (case-insensitive
# matching is ten times slower); with a label, only the value is masked.
CONTEXT: tuple[tuple[str, tuple[str, ...], bool, str | None, str], ...] = (
    (
        "private-key",
        ("-----begin",),
        False,
        None,
        r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,16384}?-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"|[A-Za-z0-9+/=\s\\]*)",  # a block cut short is masked to its end
    ),
    (
        "putty-key",
        ("putty-user-key-file",),
        False,
        None,
        r"PuTTY-User-Key-File-\d: [\s\S]{0,8192}?Private-MAC: [0-9a-f]+",
    ),
    (
        "aws-secret-key",
        ("secret",),
        True,
        r"(?:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)\\?[\"']?\s*[:=]\s*\\?[\"']?",
        r"[a-z0-9/+=]{30,}",
    ),
    (
        "aws-session-token",
        ("session",),
        True,
        r"aws_?session_?token\\?[\"']?\s*[:=]\s*\\?[\"']?",
        r"[a-z0-9/+=]{30,}",
    ),
    (
        "azure-key",
        ("accountkey", "sharedaccesskey", "sharedsecretvalue", "primarykey", "secondarykey"),
        True,
        r"(?:accountkey|sharedaccesskey|sharedsecretvalue|primarykey|secondarykey)=",
        r"[a-z0-9+/]{20,}={0,2}",
    ),
    ("azure-sas", ("sig=",), True, r"[?&]sig=", r"[a-z0-9%+/=]{10,}"),
    (
        "slack-webhook",
        ("hooks.slack.com",),
        False,
        r"hooks\.slack\.com/(?:services|workflows|triggers)/",
        r"[A-Za-z0-9+/_\-]{20,}",
    ),
    (
        "discord-webhook",
        ("discord",),
        True,
        r"discord(?:app)?\.com/api/webhooks/\d+/",
        r"[a-z0-9_\-]{30,}",
    ),
    # scheme://user:PASSWORD@host (the user stays readable)
    ("url-password", ("://",), False, r"://[^\s:/?#@\"']{1,128}:", r"[^\s@/\"']{1,256}(?=@)"),
    ("url-userinfo-key", ("://",), False, r"://", r"[0-9a-f]{32}(?=@)"),  # Sentry-style DSNs
    (
        "authorization",
        ("authorization",),
        True,
        r"(?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?"
        r"(?:bearer|basic|token|digest|negotiate|apikey|sso-key)?\s*",
        r"[^\s\"',;]{8,}",
    ),
    (
        "bearer",
        ("bearer",),
        False,
        r"[Bb][Ee][Aa][Rr][Ee][Rr]\s+",
        _NOT_A_WORD + r"[A-Za-z0-9._~+/=\-]{8,}",
    ),
    (
        "basic",
        ("basic",),
        False,
        r"[Bb]asic\s+",
        # base64 of user:password: whole 4-char groups, and not one plain word
        r"(?=\S*(?:[0-9+/]|[a-z]\S*[A-Z]|[A-Z]\S*[A-Z]))(?:[A-Za-z0-9+/]{4}){2,}"
        r"(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?(?![A-Za-z0-9+/=])",
    ),
    ("netrc", ("login",), True, r"login\s+\S+\s+password\s+", r"\S+"),
    (
        "labelled",
        ("key", "token", "secret", "passw", "pwd", "passphrase", "credential"),
        True,
        r"(?:api[_\-]?key|apikey|access[_\-]?key(?:[_\-]?id)?|secret[_\-]?key"
        r"|client[_\-]?secret|access[_\-]?token|refresh[_\-]?token|auth[_\-]?token"
        r"|id[_\-]?token|session[_\-]?token|token|secret|password|passwd|passphrase|pwd"
        r"|private[_\-]?key|credentials?)\\?[\"']?\s*[:=]\s*\\?[\"']?",
        r"[^\s\"'&,;<>\\]{4,}",
    ),
    (
        "labelled-flag",
        ("pass", "token", "secret", "api-key", "apikey"),
        True,
        r"--?(?:password|passwd|token|secret|api-key|apikey|auth-token|access-token)\s+[\"']?",
        r"[^\s\"'-][^\s\"']{3,}",
    ),
    (
        "query-key",
        ("key=", "token=", "auth=", "signature=", "password="),
        True,
        r"[?&](?:key|api_key|apikey|token|access_token|auth|signature|password)=",
        r"[^&\s\"'#]+",
    ),
)

_TRIGGERS = tuple((index, rule[1]) for index, rule in enumerate(CONTEXT))
_TOKEN_RE = re.compile("|".join(f"(?:{value})" for _name, value in TOKENS))
# One regex per context rule: a rule that starts with a literal is searched for at C speed,
# which an alternation of rules would lose. Each is (label group or 0, pattern).
_CONTEXT_RE = tuple(
    re.compile(value if label is None else f"({label}){value}")
    for _n, _t, _f, label, value in CONTEXT
)
_CONTEXT_RE_ANYCASE = tuple(
    re.compile(value if label is None else f"({label}){value}", re.IGNORECASE)
    for _n, _t, _f, label, value in CONTEXT
)


def _spans(index: int, text: str, lowered: str) -> Iterator[tuple[int, int]]:
    """The (start, end) of every value context rule `index` finds (its label excluded)."""
    _name, _triggers, folded, label, _value = CONTEXT[index]
    if not folded:
        pattern, subject = _CONTEXT_RE[index], text
    elif len(lowered) == len(text):  # lower() kept every offset (it does for ASCII)
        pattern, subject = _CONTEXT_RE[index], lowered
    else:
        pattern, subject = _CONTEXT_RE_ANYCASE[index], text
    for match in pattern.finditer(subject):
        start = match.end(1) if label is not None else match.start()
        if match.end() > start:
            yield start, match.end()


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    out, position = [], 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        out.append(text[position : max(start, position)])
        if start >= position:
            out.append(MASK)
        position = end
    out.append(text[position:])
    return "".join(out)


_PLAIN_WORD = re.compile(r"[a-z][a-z_.\-]{0,15}$")  # "default", "read-only": not keys
_known_secrets: set[str] = set()
_extra_patterns: list[re.Pattern[str]] = []


def register_secret(value: str | None) -> None:
    """Remember a value that must never be written or shown anywhere (a key, a token)."""
    if not value or not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < 6 or value.startswith("/") or value == MASK or _PLAIN_WORD.match(value):
        return  # too short to mask safely, a path (a socket, a file) or a word, not a key
    if value.startswith("${") and value.endswith("}"):
        return  # a placeholder naming a variable: that variable's value is registered
    _known_secrets.add(value)


def register_patterns(patterns: Iterable[str]) -> None:
    """Add operator-configured patterns (config.toml `[redact] patterns = [...]`)."""
    for pattern in patterns:
        compiled = re.compile(pattern)
        if compiled not in _extra_patterns:
            _extra_patterns.append(compiled)


def register_environment_secrets(environ: Mapping[str, str] | None = None) -> None:
    """Register the values of every variable whose name looks like a secret's."""
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_NAME.search(name):
            register_secret(value)


def register_config_secrets(data: Mapping[str, Any]) -> None:
    """Register every string under a secret-looking key (api_key, token, password, an
    Authorization header …) of a parsed config, at any depth."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            register_config_secrets(value)
        elif isinstance(value, str) and _SECRET_NAME.search(str(key)):
            register_secret(value)
            if " " in value.strip():  # "Bearer TOKEN": the token alone too
                register_secret(value.strip().rsplit(" ", 1)[-1])


def looks_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _mask_extra(match: re.Match[str]) -> str:
    # Operator patterns with a leading group keep their label visible.
    if match.re.groups and match.group(1):
        return match.group(1) + MASK
    return MASK


def redact(text: str) -> str:
    """Return `text` with every known secret and credential-looking string masked."""
    if not text:
        return text
    for secret in _known_secrets:  # `in` is a C scan, far cheaper than an alternation
        if secret in text:
            text = text.replace(secret, MASK)
    found = {
        match.group()
        for word in text.split()
        if len(word) >= MIN_TOKEN
        for match in _TOKEN_RE.finditer(word)
    }
    for token in sorted(found, key=len, reverse=True):
        text = text.replace(token, MASK)
    lowered = text.lower()
    spans = [
        span
        for index, triggers in _TRIGGERS
        if any(trigger in lowered for trigger in triggers)
        for span in _spans(index, text, lowered)
    ]
    if spans:
        text = _masked(text, spans)
    for pattern in _extra_patterns:
        text = pattern.sub(_mask_extra, text)
    return text


def redact_value(value: Any) -> Any:
    """Every string in a JSON-like value (dicts, lists, their keys) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            redact(key) if isinstance(key, str) else key: redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def redact_after(context: str, text: str) -> str:
    """`text` redacted as it reads after `context` (already written), so a label there
    ("Authorization: Bearer ") still masks the value that starts `text`."""
    if not context:
        return redact(text)
    before = redact(context)
    both = redact(context + text)
    return both[len(before) :] if both.startswith(before) else redact(text)


BATCH_CHARS = 48  # a StreamRedactor shows text in batches of about this much (or a line)
CONTEXT_CHARS = 64  # what a StreamRedactor redacts the next piece after: "Bearer " etc.
_FORCE_CHARS = 16384  # a held-back run without whitespace this long is shown anyway
_OPEN_BLOCK = re.compile(
    r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d: "
)
_BLOCK_END = ("-----END", "Private-MAC: ")


class StreamRedactor:
    """Masks text that arrives in pieces, handing back what is safe to show now.

    It hands back text in batches of about `BATCH_CHARS` (or at a line end), up to the last
    whitespace (no key holds whitespace, so the word still arriving is kept back), and keeps an unfinished private-key block back until it
    ends. Each piece is redacted after what was handed back before it, so a label there
    ("Authorization: Bearer ") still masks the value that starts it. What it handed back
    is final.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._context = ""  # the end of what was already handed back, unredacted

    def feed(self, piece: str) -> str:
        self._pending += piece
        if len(self._pending) < BATCH_CHARS and "\n" not in piece:
            return ""  # a few words at a time: one redaction per batch, not per token
        text = self._pending
        limit = len(text)
        block = _OPEN_BLOCK.search(text)
        if block is not None and not any(end in text[block.end() :] for end in _BLOCK_END):
            limit = block.start()
        cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit), text.rfind("\t", 0, limit))
        if cut < 0:
            if len(text) < _FORCE_CHARS:
                return ""
            cut = len(text) - 1
        return self._emit(text[: cut + 1], text[cut + 1 :])

    def flush(self) -> str:
        """Everything still held back (the stream ended)."""
        return self._emit(self._pending, "")

    def _emit(self, head: str, rest: str) -> str:
        self._pending = rest
        if not head:
            return ""
        out = redact_after(self._context, head)
        self._context = (self._context + head)[-CONTEXT_CHARS:]
        return out
