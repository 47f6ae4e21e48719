"""Who is calling: API key subjects (recipients get their own subject type in the portal)."""
