"""E-signature: envelopes of PDF documents, their recipients, fields and completion."""
