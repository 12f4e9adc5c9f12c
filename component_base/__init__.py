"""The component base every daemon and agent stands on: errors, the gRPC server and client base, the
SQLite store base, metrics, daemon configuration and process lifecycle. It imports no component."""
