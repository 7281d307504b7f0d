"""Unit tests of the provider's user surface: no sockets, no Airflow database."""
