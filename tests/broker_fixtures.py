"""Fixtures for a real mosquitto broker on a free loopback port."""
