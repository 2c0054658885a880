"""L0 core: errors, ids, messages, events, state scopes, usage (stdlib and msgspec only)."""
