"""StayPrivate's Documentd API 1.0: prepare a message, attach documents, deliver or send."""
