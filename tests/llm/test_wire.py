from __future__ import annotations

import json

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from opscopilot.llm.wire import NDJSONDecoder, SSEDecoder
from tests.support.wire_server import Reply, sse

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in points:
        pieces.append(data[start:p])
        start = p
    pieces.append(data[start:])
    return pieces


def decode_sse(pieces: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    return [(e.event, e.data) for piece in pieces for e in decoder.feed(piece)]


@given(
    payloads=st.lists(st.tuples(st.sampled_from(["", "message_delta", "ping"]), texts), max_size=8),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    comments=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_sse_decoder_gives_the_same_events_whatever_the_chunking(payloads, newline, cuts, comments):
    lines = []
    expected = []
    for name, text in payloads:
        if comments:
            lines.append(": keep-alive")
        if name:
            lines.append(f"event: {name}")
        data = json.dumps({"text": text}, ensure_ascii=False)
        lines.append(f"data: {data}")
        lines.append("")
        expected.append((name or "message", data))
    wire = (newline.join(lines) + (newline if lines else "")).encode()
    assert decode_sse(split_at(wire, cuts)) == expected


@given(text=st.text(max_size=30), cuts=st.lists(st.integers(0, 500), max_size=10))
@settings(max_examples=200, deadline=None)
def test_sse_multi_line_data_is_joined_with_newlines(text, cuts):
    lines = text.replace("\r", "").split("\n")
    wire = ("".join(f"data: {line}\n" for line in lines) + "\n").encode()
    assert decode_sse(split_at(wire, cuts)) == [("message", "\n".join(lines))]


def test_sse_field_rules_from_the_spec():
    wire = b"\xef\xbb\xbfdata:no-space\n\ndata\n\nid: 7\nretry: 100\nunknown: x\ndata:  two\n\n"
    decoder = SSEDecoder()
    events = decoder.feed(wire)
    assert [(e.data, e.id) for e in events] == [("no-space", None), ("", None), (" two", "7")]


def test_sse_event_without_final_blank_line_is_pending_not_dispatched():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a": 1}\n') == []
    assert decoder.pending


@given(
    objects=st.lists(st.dictionaries(st.text(max_size=5), texts, max_size=3), max_size=6),
    cuts=st.lists(st.integers(0, 5000), max_size=20),
    trailing_newline=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_ndjson_decoder_gives_the_same_objects_whatever_the_chunking(
    objects, cuts, trailing_newline
):
    wire = "\n\n".join(json.dumps(o, ensure_ascii=False) for o in objects)
    if objects and trailing_newline:
        wire += "\n"
    decoder = NDJSONDecoder()
    out = [o for piece in split_at(wire.encode(), cuts) for o in decoder.feed(piece)]
    out += decoder.close()
    assert out == objects


def test_decoder_over_a_real_socket_in_random_pieces(wire_server):
    events = [{"n": i, "text": "naïve café ☕ 日本語"} for i in range(200)]
    wire_server.expect("/stream", Reply(body=sse(*events), pieces=(1, 7)))
    decoder = SSEDecoder()
    got = []
    with httpx.stream("GET", wire_server.url + "/stream") as response:
        for chunk in response.iter_raw():
            got += [json.loads(e.data) for e in decoder.feed(chunk)]
    assert got == events
