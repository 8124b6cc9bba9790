"""Small shared helpers: atomic file writes, errors with clear messages."""
