"""A real Home Assistant Core for the test suite: installed once into a cache, run on loopback.

`tiers` names the releases tested and where their installs live; `provision` installs one
(a virtual environment on the host, or inside a Debian chroot for a release that needs a
newer Python than the host has); `instance` starts it with a private configuration,
onboards it through its own HTTP API and adds the MQTT integration; `api` reads what it
shows. `python -m mqtt_kube.testing.hacore provision TIER...` installs from the command line.
"""
