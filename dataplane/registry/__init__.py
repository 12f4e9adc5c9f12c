"""The OCI registry: running Debian's docker-registry on the registry host, and a distribution-API client."""
