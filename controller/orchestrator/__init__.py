"""The orchestrator: applications as services, read from Compose or Kubernetes manifests, and their images."""
