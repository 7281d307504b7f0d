"""flytekit's configuration built from our parsed connection: platform auth plugin and legacy extras.

Only the launch path that goes through flytekit imports this (lazily); the async watch path has its
own token source in ``admin.auth``.
"""
