"""Hooks: the synchronous (worker-side) launch path."""
