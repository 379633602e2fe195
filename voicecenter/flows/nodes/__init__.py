"""Flow node types, one class each; NODE_TYPES maps a YAML `type` to its class."""

from .answer import AnswerNode
from .base import Node
from .collect import CollectNode
from .hangup import HangupNode
from .play import PlayNode
from .say_digits import SayDigitsNode

NODE_TYPES: dict[str, type[Node]] = {
    cls.type_name: cls for cls in (AnswerNode, PlayNode, CollectNode, SayDigitsNode, HangupNode)
}

__all__ = ["NODE_TYPES", "Node"]
