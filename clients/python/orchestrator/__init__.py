"""Orchestrator for Python: clients (orchestrator.client) and a task runner (orchestrator.runner)."""
