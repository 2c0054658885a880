"""L0 core: errors, ids, messages, events, state scopes, usage. Depends on stdlib and msgspec only."""
