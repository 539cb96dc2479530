"""Fixtures for the fake Kubernetes API server."""
