"""Terminate a deferred task's Flyte execution when a user marks the task, from the API server.

A live triggerer's ``on_kill`` covers marks of tasks whose trigger it runs. A task marked while its
triggerer is dead and not yet replaced has no trigger left to run anything (docs/architecture.md,
"Several triggerers"): the API server's listener hook is the only Airflow code that sees that mark.
"""
