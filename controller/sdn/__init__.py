"""The SDN controller: network view, path and rule computation (pure), the os-ken app and its gRPC service."""
