"""The Kubernetes side: API access, shared watches, patches and launched objects."""
