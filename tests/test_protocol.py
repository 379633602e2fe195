import pytest

from voicecenter.media import protocol


def test_round_trip_command() -> None:
    line = protocol.encode({"type": "play", "id": 7, "call": 2, "files": ["/a.wav"]})
    assert line.endswith(b"\n")
    assert protocol.decode(line, protocol.COMMANDS)["files"] == ["/a.wav"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not an object"),
        (b'{"type":"explode","id":1}', "unknown message type"),
        (b'{"type":"answer","id":1}', "field 'call'"),
        (b'{"type":"answer","id":true,"call":1}', "field 'id'"),
        (b'{"type":"play","id":1,"call":1,"files":"a.wav"}', "field 'files'"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_lines_are_refused_with_a_reason(line: bytes, problem: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=problem):
        protocol.decode(line, protocol.COMMANDS)


def test_oversized_line_is_refused() -> None:
    with pytest.raises(protocol.ProtocolError, match="exceeds"):
        protocol.decode(b"{" + b" " * protocol.MAX_LINE + b"}", protocol.EVENTS)


def test_events_schema_checks_hello() -> None:
    hello = {"type": "hello", "v": 1, "worker": 0, "pid": 1, "capacity": 4, "sip_port": 5100}
    assert protocol.decode(protocol.encode(hello), protocol.EVENTS)["capacity"] == 4
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(protocol.encode({**hello, "capacity": "4"}), protocol.EVENTS)
