"""Flow node types, one class each; NODE_TYPES maps a YAML `type` to its class."""

from .answer import AnswerNode
from .authenticate import AuthenticateNode
from .base import Node, Param
from .branch import BranchNode
from .business_hours import BusinessHoursNode
from .call_in import CallInNode
from .collect import CollectNode
from .hangup import HangupNode
from .http import HttpNode
from .listen import ListenNode
from .menu import MenuNode
from .play import PlayNode
from .queue import QueueNode
from .record_message import RecordMessageNode, VoicemailNode
from .say_digits import SayDigitsNode
from .segment import SegmentNode
from .set import SetNode
from .subflow import ReturnNode, SubflowNode
from .transfer import TransferNode

NODE_TYPES: dict[str, type[Node]] = {
    cls.type_name: cls
    for cls in (
        AnswerNode, PlayNode, CollectNode, SayDigitsNode, MenuNode, ListenNode, SetNode,
        BranchNode, HttpNode, AuthenticateNode, SegmentNode, BusinessHoursNode, QueueNode,
        TransferNode, RecordMessageNode, VoicemailNode, SubflowNode, ReturnNode, HangupNode,
        CallInNode,
    )
}

__all__ = ["NODE_TYPES", "Node", "Param"]
