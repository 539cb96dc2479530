"""Real stand-ins for what mqtt-kube talks to, shared by the tests, `make bench` and `make demo`.

`mosquitto` runs the distribution's broker on a loopback port; `fakekube` is an in-memory
Kubernetes API server that the real kubernetes_asyncio client talks to; `hacore` installs a
real Home Assistant Core into a cache and runs it, onboarded, on loopback.
"""
