"""Client-side work, as kubectl does it: reading Compose and Kubernetes manifests into the app model
the orchestrator receives over gRPC."""
