"""Sensors: wait for Flyte executions."""
