"""Who may use envelopes: the messages scopes, as sending for signature is sending."""

from __future__ import annotations

from tabellion.auth.dependencies import MessagesRead, MessagesWrite

EnvelopesWrite = MessagesWrite
EnvelopesRead = MessagesRead
