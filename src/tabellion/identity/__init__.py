"""Recipient identity: OpenID Connect providers, levels of assurance, attribute matching."""
