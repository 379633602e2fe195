"""Write pcap files holding one continuous RTP stream: audio, RFC 4733 digits, audio.

SIPp's ``play_pcap_audio`` replays the RTP headers of a pcap unchanged (it only
rewrites UDP ports and addresses), so a string of digits has to be ONE pcap
whose sequence numbers and timestamps run on without a jump: a receiver that
sees a jump (several stock single-digit pcaps played in a row) treats the
stream as restarted or drops packets as out of order.  The payload types in
the file must also match what the call negotiated: a PCMA packet in a PCMU
call is silently dropped and SIPp still reports success.

The stream is laid out like a real phone sends it, one packet every 20 ms:

* audio packets (PCMU or PCMA) for ``lead_ms``;
* for each digit, telephone-event packets that all carry the timestamp of the
  event start, with the duration growing by 160 samples per packet, volume
  10, the marker bit on the first packet, and the end bit on the last three
  (the final packet is sent three times, each with a new sequence number,
  as PJSIP and Asterisk do; PJSIP drops repeated sequence numbers as
  duplicates);
* audio packets for ``gap_ms`` after each digit, and for ``tail_ms`` at the end.

The RTP clock follows the wall clock: a packet sent ``k`` slots after the
first has media time ``ts_start + 160 * k``, so the audio after an event
resumes exactly where the sender's clock is, retransmissions included.

G.711 is encoded here in pure Python because ``audioop`` is gone from
Python 3.13.

CLI: ``python -m tests.support.rtp_pcap OUT.pcap 1234 [--digit-ms 160 ...]``.
"""

from __future__ import annotations

import argparse
import math
import random
import socket
import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 8000
PTIME_MS = 20
SAMPLES_PER_PACKET = SAMPLE_RATE * PTIME_MS // 1000  # 160
END_RETRANSMISSIONS = 3
EVENT_VOLUME = 10  # -10 dBm0, what phones send
PT_PCMU = 0
PT_PCMA = 8

DTMF_EVENT_CODES: dict[str, int] = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    "A": 12,
    "B": 13,
    "C": 14,
    "D": 15,
}
EVENT_CODE_DIGITS: dict[int, str] = {code: d for d, code in DTMF_EVENT_CODES.items()}

# pcap constants: classic libpcap, microsecond timestamps, Ethernet (DLT_EN10MB = 1).
# SIPp 3.6 reads Ethernet, Linux cooked and 802.11 captures through libpcap.
PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
PCAP_SNAPLEN = 65535
PCAP_EPOCH = 1_700_000_000  # fixed so the same arguments give the same file


# --------------------------------------------------------------------- G.711


def ulaw_encode_sample(sample: int) -> int:
    """Encode one 16-bit linear sample to G.711 mu-law (the classic Sun g711.c)."""
    pcm = sample >> 2  # mu-law works on 14-bit samples
    if pcm < 0:
        pcm, mask = -pcm, 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + 33  # clip, then add the bias
    seg_end = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
    seg = next((i for i, end in enumerate(seg_end) if pcm <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0x0F)) ^ mask


def alaw_encode_sample(sample: int) -> int:
    """Encode one 16-bit linear sample to G.711 A-law (the classic Sun g711.c)."""
    pcm = sample >> 3  # A-law works on 13-bit samples
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg_end = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
    seg = next((i for i, end in enumerate(seg_end) if pcm <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm >> 1) & 0x0F if seg < 2 else (pcm >> seg) & 0x0F
    return aval ^ mask


_ULAW_TABLE = bytes(ulaw_encode_sample(s) for s in range(-32768, 32768))
_ALAW_TABLE = bytes(alaw_encode_sample(s) for s in range(-32768, 32768))


def g711_encode(pcm: bytes, payload_type: int = PT_PCMU) -> bytes:
    """Encode 16-bit little-endian mono PCM to PCMU (pt 0) or PCMA (pt 8)."""
    if payload_type == PT_PCMU:
        table = _ULAW_TABLE
    elif payload_type == PT_PCMA:
        table = _ALAW_TABLE
    else:
        raise ValueError(f"audio payload type {payload_type} is not G.711 (0 or 8)")
    if len(pcm) % 2:
        raise ValueError("PCM must be 16-bit samples (even number of bytes)")
    count = len(pcm) // 2
    return bytes(table[s + 32768] for s in struct.unpack(f"<{count}h", pcm))


# ------------------------------------------------------------- audio sources


def tone_pcm(freq_hz: float, ms: int, amplitude: int = 8000) -> bytes:
    """A sine tone as 8 kHz 16-bit PCM, for audio a test can find energy in."""
    n = SAMPLE_RATE * ms // 1000
    step = 2 * math.pi * freq_hz / SAMPLE_RATE
    return struct.pack(f"<{n}h", *(round(amplitude * math.sin(step * i)) for i in range(n)))


def read_wav_pcm(path: str | Path) -> bytes:
    """The samples of an 8 kHz mono 16-bit WAV (convert others with sox first)."""
    with wave.open(str(path), "rb") as wav:
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        if shape != (SAMPLE_RATE, 1, 2):
            raise ValueError(
                f"{path}: need 8000 Hz mono 16-bit, got {shape}; "
                f"try: sox IN.wav -r 8000 -c 1 -b 16 OUT.wav"
            )
        return wav.readframes(wav.getnframes())


# --------------------------------------------------------------- RTP stream


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet and the moment (seconds from stream start) it is sent."""

    time_s: float
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes

    def to_bytes(self) -> bytes:
        first = 0x80  # version 2, no padding/extension/CSRC
        second = (0x80 if self.marker else 0) | self.payload_type
        header = struct.pack("!BBHII", first, second, self.seq, self.timestamp, self.ssrc)
        return header + self.payload

    @classmethod
    def from_bytes(cls, data: bytes, time_s: float = 0.0) -> RtpPacket:
        first, second, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
        if first >> 6 != 2:
            raise ValueError("not RTP version 2")
        header_len = 12 + 4 * (first & 0x0F)
        return cls(time_s, second & 0x7F, bool(second & 0x80), seq, ts, ssrc, data[header_len:])


@dataclass(frozen=True)
class DtmfEvent:
    """The RFC 4733 payload of a telephone-event packet."""

    digit: str
    end: bool
    volume: int
    duration: int  # in timestamp units (samples)

    @classmethod
    def from_payload(cls, payload: bytes) -> DtmfEvent:
        code, flags, duration = struct.unpack("!BBH", payload[:4])
        digit = EVENT_CODE_DIGITS.get(code, f"?{code}")
        return cls(digit, bool(flags & 0x80), flags & 0x3F, duration)


def event_payload(code: int, end: bool, duration: int, volume: int = EVENT_VOLUME) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | (volume & 0x3F), duration)


def _slots(ms: int) -> int:
    """Packets needed to cover ``ms`` milliseconds (rounded up to whole 20 ms slots)."""
    if ms < 0:
        raise ValueError("durations must not be negative")
    return -(-ms // PTIME_MS)


def _event_codes(digits: str) -> list[int]:
    try:
        return [DTMF_EVENT_CODES[d.upper()] for d in digits]
    except KeyError as exc:
        raise ValueError(f"not a DTMF digit: {exc.args[0]!r} (allowed: 0-9 * # A-D)") from None


def build_rtp_stream(
    digits: str,
    *,
    lead_ms: int = 200,
    digit_ms: int = 160,
    gap_ms: int = 200,
    tail_ms: int = 200,
    audio_pt: int = PT_PCMU,
    event_pt: int = 101,
    audio: bytes | None = None,
    ssrc: int | None = None,
    seq_start: int | None = None,
    ts_start: int | None = None,
) -> list[RtpPacket]:
    """Lay out the packets of the stream (see the module docstring for the rules).

    ``audio`` is 8 kHz 16-bit PCM of what the caller's microphone hears from
    the first packet on; audio packets take the samples at their media time
    (events replace the audio they overlap, as phones do), and silence once
    it runs out.  Random ``ssrc``/``seq_start``/``ts_start`` when None, as
    RFC 3550 asks; pass them for a reproducible file.
    """
    codes = _event_codes(digits)
    duration_total = digit_ms * SAMPLE_RATE // 1000
    if not 0 < duration_total <= 0xFFFF:
        raise ValueError("digit_ms must be between 1 and 8191 ms (16-bit duration)")
    if not 0 <= event_pt <= 127 or event_pt in (PT_PCMU, PT_PCMA):
        raise ValueError(f"bad telephone-event payload type {event_pt}")
    pcm = audio or b""
    silence_frame = g711_encode(b"\0\0" * SAMPLES_PER_PACKET, audio_pt)
    rng = random.SystemRandom()
    ssrc = rng.getrandbits(32) if ssrc is None else ssrc
    seq0 = rng.getrandbits(16) if seq_start is None else seq_start
    ts0 = rng.getrandbits(32) if ts_start is None else ts_start
    packets: list[RtpPacket] = []

    def emit(pt: int, marker: bool, media_ts: int, payload: bytes) -> None:
        k = len(packets)
        packets.append(
            RtpPacket(k * PTIME_MS / 1000, pt, marker, (seq0 + k) & 0xFFFF,
                      (ts0 + media_ts) & 0xFFFFFFFF, ssrc, payload)
        )

    def emit_audio(count: int) -> None:
        for _ in range(count):
            start = len(packets) * SAMPLES_PER_PACKET
            chunk = pcm[2 * start : 2 * (start + SAMPLES_PER_PACKET)]
            frame = silence_frame
            if chunk:
                chunk = chunk.ljust(2 * SAMPLES_PER_PACKET, b"\0")
                frame = g711_encode(chunk, audio_pt)
            emit(audio_pt, not packets, start, frame)

    emit_audio(_slots(lead_ms))
    updates = -(-duration_total // SAMPLES_PER_PACKET)
    for i, code in enumerate(codes):
        event_ts = len(packets) * SAMPLES_PER_PACKET
        for n in range(1, updates + END_RETRANSMISSIONS):
            duration = min(n * SAMPLES_PER_PACKET, duration_total)
            emit(event_pt, n == 1, event_ts, event_payload(code, n >= updates, duration))
        emit_audio(_slots(gap_ms) if i < len(codes) - 1 else 0)
    emit_audio(_slots(tail_ms))
    return packets


# --------------------------------------------------------------------- pcap


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes, src: tuple[str, int], dst: tuple[str, int], ip_id: int) -> bytes:
    """Ethernet + IPv4 + UDP around ``payload``, checksums filled in (tshark is strict)."""
    src_ip, dst_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    udp_len = 8 + len(payload)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 20 + udp_len, ip_id & 0xFFFF, 0x4000, 64,
                     socket.IPPROTO_UDP, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ether + ip + udp


def write_pcap(
    path: str | Path,
    packets: Sequence[RtpPacket],
    *,
    src: tuple[str, int] = ("127.0.0.1", 4000),
    dst: tuple[str, int] = ("127.0.0.1", 6000),
) -> None:
    """Write ``packets`` as a classic libpcap file, all to one UDP port.

    SIPp maps the lowest destination port in the file to the callee's RTP
    port and keeps the others at their offset, so every packet goes to ``dst``.
    """
    header = struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET)
    out = bytearray(header)
    for i, pkt in enumerate(packets):
        frame = _frame(pkt.to_bytes(), src, dst, i)
        usec_total = round(pkt.time_s * 1_000_000)
        sec, usec = divmod(usec_total, 1_000_000)
        out += struct.pack("<IIII", PCAP_EPOCH + sec, usec, len(frame), len(frame)) + frame
    Path(path).write_bytes(bytes(out))


def read_pcap(path: str | Path) -> list[RtpPacket]:
    """Read the UDP payloads of an Ethernet/IPv4 pcap back as RTP packets.

    Small on purpose: enough for our own files and SIPp's stock pcaps.
    """
    data = Path(path).read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == PCAP_MAGIC else ">"
    if struct.unpack(f"{endian}I", data[:4])[0] != PCAP_MAGIC:
        raise ValueError(f"{path}: not a classic microsecond pcap file")
    if struct.unpack(f"{endian}I", data[20:24])[0] != LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: only Ethernet captures are supported")
    packets: list[RtpPacket] = []
    offset, first_time = 24, None
    while offset + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack(f"{endian}IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        if frame[12:14] != b"\x08\x00" or frame[23] != socket.IPPROTO_UDP:
            continue
        ihl = (frame[14] & 0x0F) * 4
        udp_len = struct.unpack("!H", frame[14 + ihl + 4 : 14 + ihl + 6])[0]
        udp_payload = frame[14 + ihl + 8 : 14 + ihl + udp_len]
        t = sec + usec / 1_000_000
        first_time = t if first_time is None else first_time
        packets.append(RtpPacket.from_bytes(udp_payload, round(t - first_time, 6)))
    return packets


def write_rtp_pcap(
    path: str | Path,
    digits: str,
    *,
    lead_ms: int = 200,
    digit_ms: int = 160,
    gap_ms: int = 200,
    tail_ms: int = 200,
    audio_pt: int = PT_PCMU,
    event_pt: int = 101,
    audio: bytes | None = None,
    ssrc: int | None = None,
    seq_start: int | None = None,
    ts_start: int | None = None,
) -> list[RtpPacket]:
    """Write the pcap SIPp plays for ``digits`` and return its packets.

    ``audio_pt``/``event_pt`` must be the payload types the call negotiates
    (the SIPp scenarios in tests/sipp offer PCMU 0 and telephone-event 101).
    """
    packets = build_rtp_stream(
        digits, lead_ms=lead_ms, digit_ms=digit_ms, gap_ms=gap_ms, tail_ms=tail_ms,
        audio_pt=audio_pt, event_pt=event_pt, audio=audio,
        ssrc=ssrc, seq_start=seq_start, ts_start=ts_start,
    )
    write_pcap(path, packets)
    return packets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.rtp_pcap",
        description="Write a pcap of one continuous RTP stream with RFC 4733 digits for SIPp.",
    )
    parser.add_argument("out", type=Path, help="pcap file to write")
    parser.add_argument("digits", nargs="?", default="", help="digits 0-9 * # A-D (may be empty)")
    parser.add_argument("--lead-ms", type=int, default=200)
    parser.add_argument("--digit-ms", type=int, default=160)
    parser.add_argument("--gap-ms", type=int, default=200)
    parser.add_argument("--tail-ms", type=int, default=200)
    parser.add_argument("--audio-pt", type=int, default=PT_PCMU, choices=(PT_PCMU, PT_PCMA))
    parser.add_argument("--event-pt", type=int, default=101)
    parser.add_argument("--wav", type=Path, help="8 kHz mono 16-bit WAV of caller audio")
    parser.add_argument("--tone", type=float, help="caller audio: a sine tone of this many Hz")
    args = parser.parse_args(argv)
    audio = None
    if args.wav:
        audio = read_wav_pcm(args.wav)
    elif args.tone:
        per_digit_ms = args.digit_ms + args.gap_ms + (END_RETRANSMISSIONS - 1) * PTIME_MS
        audio = tone_pcm(args.tone, args.lead_ms + args.tail_ms + len(args.digits) * per_digit_ms)
    packets = write_rtp_pcap(
        args.out, args.digits, lead_ms=args.lead_ms, digit_ms=args.digit_ms, gap_ms=args.gap_ms,
        tail_ms=args.tail_ms, audio_pt=args.audio_pt, event_pt=args.event_pt, audio=audio,
    )
    print(f"{args.out}: {len(packets)} packets, {packets[-1].time_s + PTIME_MS / 1000:.2f} s"
          if packets else f"{args.out}: empty")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
