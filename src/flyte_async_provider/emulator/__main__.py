"""``python -m flyte_async_provider.emulator`` = the ``flyte-admin-emulator`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
