"""`make bench`: how fast, how costly and how far mqtt-kube scales, as ratios.

Every figure is measured against a baseline taken in the same run on the same machine (a
bare kubernetes_asyncio call, a bare watch consumer, an idle interpreter, ...), so the
ratios mean something on any machine while the raw numbers only describe this one. Each
measurement lives in its own module; `python -m bench` runs them all and writes
bench/RESULTS.md. Nothing here asserts on time: targets are reported, never enforced.
"""
