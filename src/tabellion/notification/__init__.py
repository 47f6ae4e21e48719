"""E-mail: composition, templates per language, SMTP or outbox transport."""
