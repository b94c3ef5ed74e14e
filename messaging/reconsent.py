"""Task entry point kept at its old dotted path: queued tasks name `messaging.reconsent.reconsent_send_batch`.

Re-consent lives in messaging/conversations/reconsent.py.
"""

from messaging.conversations.reconsent import reconsent_send_batch

__all__ = ["reconsent_send_batch"]
