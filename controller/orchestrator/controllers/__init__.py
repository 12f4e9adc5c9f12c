"""The orchestrator's controllers, each a loop over the one store woken by the changes it watches."""
