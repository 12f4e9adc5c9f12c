"""The service program every application container runs: a stand-in microservice that answers who it is and calls its dependencies."""
