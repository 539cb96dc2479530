"""The Kubernetes side: API access, shared watches, patches and launched objects.

kubernetes_asyncio's packages are deferred first (`mqtt_kube.kube.lean`), so importing
this layer does not import the client's generated models.
"""

from mqtt_kube.kube.lean import defer

defer()
