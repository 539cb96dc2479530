"""The configuration file: reading it, checking it, and the frozen model the rest trusts."""
