"""Pages for people outside the sending organisation: recipients, contacts, new users."""
