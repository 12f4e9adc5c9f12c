"""Strata control layer: placement engine, orchestrator, mesh and SDN controllers, CLI."""
