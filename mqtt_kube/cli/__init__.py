"""The command line on top of everything: `mqtt-kube run`, `check` and `rbac`."""
