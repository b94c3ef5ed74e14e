"""Task entry point kept at its old dotted path: queued tasks name `messaging.outbound.priority_message_send`.

The priority lane lives in messaging/conversations/priority.py.
"""

from messaging.conversations.priority import priority_message_send

__all__ = ["priority_message_send"]
