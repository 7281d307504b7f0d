"""The triggerer imports trigger modules inside its event loop: the admin package must stay light."""

from __future__ import annotations

import subprocess
import sys


def test_admin_package_imports_no_grpc_flyteidl_aiohttp_or_flytekit() -> None:
    code = (
        "import sys, flyte_async_provider.admin, flyte_async_provider.admin.poller; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'grpc', 'flyteidl', 'aiohttp', 'flytekit'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
