"""``python -m flyte_async_provider.demo`` (what ``make demo`` runs)."""

from __future__ import annotations

import sys

from flyte_async_provider.demo.runner import main

if __name__ == "__main__":
    sys.exit(main())
