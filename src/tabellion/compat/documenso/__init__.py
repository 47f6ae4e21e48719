"""Documenso API v2 dialect under ``/compat/documenso/api/v2``."""
