"""Building the pjsua2 endpoint of one media worker.

Measured facts drive every setting here: callbacks run on the one thread that
polls libHandleEvents (threadCnt 0), the null audio device (no sound card on a
server), and the call capacity read back from PJSUA after asking for far more
than any build allows, because PJSUA clamps the request to its compile-time
PJSUA_MAX_CALLS and a worker must hold exactly what its pjsua2 can.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import pjsua2 as pj

# PJSUA clamps max_calls to PJSUA_MAX_CALLS; ask for more than any build has.
_CAPACITY_REQUEST = 4096

# Offered in this order. G722 stays for browser legs through rtpengine;
# the rest cost CPU and interoperate badly, so they are not offered.
_CODEC_PRIORITY = {"PCMU/8000/1": 255, "PCMA/8000/1": 254, "G722/16000/1": 200}


@dataclass(frozen=True)
class EndpointOptions:
    address: str
    sip_port: int
    rtp_port: int
    rtp_port_range: int
    log_level: int = 1
    clock_rate: int = 16000


def read_call_capacity() -> int:
    """Calls this pjsua2 build holds (pjsua_call_get_max_count after libInit)."""
    lib = ctypes.CDLL(pj._pjsua2.__file__)
    lib.pjsua_call_get_max_count.restype = ctypes.c_uint
    return int(lib.pjsua_call_get_max_count())


def create_endpoint(options: EndpointOptions) -> tuple[pj.Endpoint, int]:
    """Start a pjsua2 Endpoint with a UDP transport; return it and its call capacity."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.maxCalls = _CAPACITY_REQUEST
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.userAgent = "voicecenter-media"
    cfg.medConfig.threadCnt = 0
    cfg.medConfig.noVad = True
    cfg.medConfig.clockRate = options.clock_rate
    cfg.medConfig.sndClockRate = options.clock_rate
    cfg.medConfig.ecTailLen = 0
    cfg.logConfig.level = options.log_level
    cfg.logConfig.consoleLevel = options.log_level
    ep.libInit(cfg)
    capacity = read_call_capacity()

    transport = pj.TransportConfig()
    transport.port = options.sip_port
    transport.boundAddress = options.address
    transport.publicAddress = options.address
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()

    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, _CODEC_PRIORITY.get(codec.codecId, 0))
    return ep, capacity


def account_config(options: EndpointOptions) -> pj.AccountConfig:
    """A local account (no registration) that owns every incoming call."""
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:media@{options.address}:{options.sip_port}"
    acfg.mediaConfig.transportConfig.port = options.rtp_port
    acfg.mediaConfig.transportConfig.portRange = options.rtp_port_range
    acfg.mediaConfig.transportConfig.boundAddress = options.address
    acfg.mediaConfig.transportConfig.publicAddress = options.address
    # Its re-INVITE right after the ACK can overtake the ACK in the edge;
    # browsers then drop the call about 30 s later.
    acfg.mediaConfig.lockCodecEnabled = False
    acfg.natConfig.sdpNatRewriteUse = 0
    acfg.natConfig.viaRewriteUse = 0
    acfg.natConfig.contactRewriteUse = 0
    return acfg
