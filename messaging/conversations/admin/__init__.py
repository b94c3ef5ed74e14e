"""Console pages for messages both ways: the Inbox (conversations), sent texts, received texts,
one module an area (issue 9, module size):

- `inbox.py`       the Inbox (ConversationAdmin): folders, the thread, reply, bulk actions, polling
- `forms.py`       its forms (reply, note, snooze, poll answers, inbox settings)
- `setup_pages.py` saved replies, polls and their tally, the inbox settings
- `logs.py`        the sent and received texts (read-only logs)

The Inbox (issue 13) is thin: it reads with inbox.py, acts with services.py, shows with
templates/admin/messaging/conversation/.

- /admin/messaging/conversation/            folders, search, filters, keyset pages, bulk actions
- /admin/messaging/conversation/<id>/change/ the thread, the fan beside it, reply/note/assign/snooze/done
- /admin/messaging/conversation/<id>/presence/  POST heartbeat -> JSON (who else is here, new texts)
- /admin/messaging/conversation/<id>/transcript/ the thread as a text file

Viewing needs "view"; every write needs "reply" (owners, managers, agents). Another talent's
conversation answers 404 (TalentScopedAdmin.get_object). Importing this package registers every
page; the names stay importable from `messaging.conversations.admin`.
"""

from messaging.conversations.admin.forms import (  # noqa: F401  (the old import path)
    DAY_CHOICES,
    SNOOZE_CHOICES,
    InboxSettingsForm,
    NoteForm,
    PollForm,
    ReplyForm,
    SnoozeForm,
)
from messaging.conversations.admin.inbox import ConversationAdmin, _members  # noqa: F401  (registers it)
from messaging.conversations.admin.logs import InboundMessageAdmin, OutboundMessageAdmin  # noqa: F401
from messaging.conversations.admin.setup_pages import (  # noqa: F401  (registers them)
    InboxSettingsAdmin,
    PollAdmin,
    SavedReplyAdmin,
    _csv_cell,
)
