"""What the tests share: the example entity names, connection builders, Airflow stand-ins, waits, TLS.

One package for every test folder (``pythonpath = ["tests"]`` in pyproject.toml): import from
``support.<module>``; nothing here starts a server by itself (the emulator's pytest plugin does).
"""
