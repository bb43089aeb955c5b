"""What redaction costs on the streaming hot path, against the same path with it switched off.

Three measures, medians over repeats, each against its floor in the same run:
- `redact()` on 256-character chunks of three kinds of text (an answer in prose, tool output
  such as `ps aux`, and text full of trigger words and credentials);
- the store's filter (`runtime/persist.py` PersistFilter: streamed tokens joined into chunks,
  each redacted) per streamed token, with redaction and with `redact_after` an identity;
- the stdout filter of `prompt`/`run` (`StreamRedactor.feed`) per streamed token, against
  writing the token as it is.
Usage: python benchmarks/bench_redact.py [--tokens N] [--repeats R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import markdown_table, median, write_results

PROSE = (
    "The disk on /var is 91% full; the largest folder is /var/log/journal with 4.2 GiB. "
    "Vacuum the journal to 1 GiB, then check the rotation of the nginx logs and restart it. "
)
PS_AUX = (
    "root      1203  0.3  1.2 812344 98320 ?  Ssl  02:10   1:02 /usr/sbin/nginx -g daemon on;\n"
    "www-data  1204  0.0  0.4 123456 34567 ?  S    02:10   0:12 nginx: worker process\n"
)
TRIGGERS = (
    "token usage is fine; the API key in the config is set (api_key = [REDACTED]); see "
    "https://docs.example.com/auth?token=abc and Authorization: Bearer 8f3c2d9e7b14f6a0c5e1 ok "
)


def per_call_us(function, argument: str, repeats: int, calls: int = 2000) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            function(argument)
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return median(samples)


def tokens_of(text: str, count: int) -> list[str]:
    words = (text * (count // 20 + 2)).split(" ")
    return [w + " " for w in words[:count]]


def persist_us(tokens: list[str], repeats: int, redaction: bool) -> float:
    from opscopilot import events as ev
    from opscopilot.runtime import persist

    original = persist.redact_after
    if not redaction:
        persist.redact_after = lambda context, text: text
    try:
        events = [
            ev.ModelText(ts=1.0, session_id="s", turn_id="t", call_id="c", text=token)
            for token in tokens
        ]
        samples = []
        for _ in range(repeats):
            flt = persist.PersistFilter()
            started = time.perf_counter()
            for event in events:
                flt.feed(event)
            flt.flush()
            samples.append((time.perf_counter() - started) / len(events) * 1e6)
        return median(samples)
    finally:
        persist.redact_after = original


def stdout_us(tokens: list[str], repeats: int, redaction: bool) -> float:
    from opscopilot.redact import StreamRedactor

    samples = []
    for _ in range(repeats):
        shown = []
        started = time.perf_counter()
        if redaction:
            stream = StreamRedactor()
            for token in tokens:
                shown.append(stream.feed(token))
            shown.append(stream.flush())
        else:
            for token in tokens:
                shown.append(token)
        samples.append((time.perf_counter() - started) / len(tokens) * 1e6)
    return median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from opscopilot.redact import redact

    rows, results = [], {}
    for label, text in (
        ("answer prose", PROSE),
        ("ps aux output", PS_AUX),
        ("trigger words", TRIGGERS),
    ):
        chunk = (text * 4)[:256]
        cost = per_call_us(redact, chunk, args.repeats)
        results[f"redact_{label}"] = cost
        rows.append([f"`redact()` on 256 chars of {label}", f"{cost:.1f} µs", "—", "—"])
    for label, text in (("prose", PROSE), ("trigger words", TRIGGERS)):
        tokens = tokens_of(text, args.tokens)
        for name, measure in (
            ("store filter (PersistFilter)", persist_us),
            ("stdout (StreamRedactor)", stdout_us),
        ):
            on = measure(tokens, args.repeats, True)
            off = measure(tokens, args.repeats, False)
            results[f"{name} {label}"] = {"on_us": on, "off_us": off}
            rows.append(
                [
                    f"{name}, {label}, per token",
                    f"{on:.2f} µs",
                    f"{off:.2f} µs",
                    f"+{on - off:.2f} µs",
                ]
            )
    table = markdown_table(["measure", "with redaction", "without", "redaction adds"], rows)
    print(f"### Redaction on the streaming path ({args.tokens} tokens, {args.repeats} repeats)\n")
    print(table)
    path = write_results("redact", {"results": results, "table": table})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
