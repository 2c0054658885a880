"""L0 core: errors, ids, messages, events, state scopes, usage, deadlines (stdlib and msgspec
only)."""
