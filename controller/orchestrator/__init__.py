"""The container orchestrator: nodes, applications and their instances, kept running by controllers."""
