"""mqtt-kube: bridge Kubernetes objects and MQTT topics, with Home Assistant discovery."""

__version__ = "0.1.0"
