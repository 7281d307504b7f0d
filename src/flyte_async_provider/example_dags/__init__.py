"""Example DAGs, runnable against a real Flyte or the bundled Flyte Admin emulator."""
