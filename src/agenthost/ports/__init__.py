"""L1 ports: the small protocols backends implement and the engine calls."""
