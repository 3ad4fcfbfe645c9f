"""Customer state: what the engine remembers between events, and (later) where it is stored."""
