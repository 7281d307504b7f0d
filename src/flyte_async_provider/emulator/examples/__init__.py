"""Example flytekit workflows the emulator registers (imports flytekit: load lazily)."""
