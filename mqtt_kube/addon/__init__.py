"""The Home Assistant add-on entry point: Supervisor options and services, then the service."""
