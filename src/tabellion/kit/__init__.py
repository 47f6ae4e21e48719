"""Small shared pieces: ids, tokens, time, pagination, schema base."""
