"""What is written down of the live stream: redacted chunks that never split a secret."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from opscopilot import events as ev
from opscopilot.runtime.persist import PersistFilter

SECRETS = [
    "sk-proj-abcdefghijklmnopqrstuvwx0123",
    "AIzaSyA1234567890abcdefghijklmnopq",
    "ghp_abcdefghijklmnopqrstuvwxyz0123",
]


def deltas(text: str, cuts: list[int]) -> list[ev.ModelText]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [
        ev.ModelText(ts=float(i), session_id="s", turn_id="t", call_id="c", text=text[a:b])
        for i, (a, b) in enumerate(itertools.pairwise(points))
        if b > a
    ]


def persisted(events: list[ev.Event]) -> list[ev.Event]:
    f = PersistFilter()
    out = [p for e in events for p in f.feed(e)]
    return out + f.flush()


def text_of(events: list[ev.Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ev.ModelText))


def test_a_key_streamed_in_two_pieces_is_still_masked():
    events = deltas("the key is sk-proj-abcdefgh" + "ijklmnopqrstuvwx0123 — rotate it\n", [27])
    assert next(e.text for e in events).endswith("sk-proj-abcdefgh")
    out = text_of(persisted(events))
    assert "abcdefghijklmnop" not in out and "[REDACTED]" in out
    assert out.endswith(" — rotate it\n")


def test_a_label_in_one_chunk_still_masks_the_value_in_the_next():
    filler = "x " * 140  # pushes the first chunk out right after the label
    events = deltas(
        filler + "Authorization: Bearer " + "abcdefgh12345678zz tail\n", [len(filler) + 22]
    )
    out = text_of(persisted(events))
    assert "abcdefgh12345678" not in out


@given(
    words=st.lists(
        st.sampled_from(["disk", "is", "full", "ok", "\n", "naïve", "☕", *SECRETS]), max_size=120
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=60),
    usage_every=st.integers(1, 9),
)
@settings(max_examples=200, deadline=None)
def test_no_secret_survives_any_split_and_nothing_else_changes(words, cuts, usage_every):
    text = " ".join(words)
    stream: list[ev.Event] = []
    for i, delta in enumerate(deltas(text, cuts)):
        stream.append(delta)
        if i % usage_every == 0:  # figures may arrive between any two deltas
            stream.append(
                ev.ModelUsage(
                    ts=delta.ts,
                    session_id="s",
                    turn_id="t",
                    call_id="c",
                    usage={"output_tokens": i},
                )
            )
    out = persisted(stream)
    written = text_of(out)
    for secret in SECRETS:
        assert secret not in written
    expected = text
    for secret in SECRETS:
        expected = expected.replace(secret, "[REDACTED]")
    assert written == expected
    assert sum(isinstance(e, ev.ModelUsage) for e in out) == sum(
        isinstance(e, ev.ModelUsage) for e in stream
    )


def test_other_events_flush_the_text_first_so_order_is_kept():
    stream = [
        *deltas("checking the disks", [5, 9]),
        ev.ModelToolCall(
            ts=9,
            session_id="s",
            turn_id="t",
            call_id="c",
            tool_call_id="k",
            name="run_command",
            arguments={"command": "df -h"},
        ),
    ]
    out = persisted(stream)
    assert [e.type for e in out] == ["model.text", "model.tool_call"]
    assert out[0].text == "checking the disks"
