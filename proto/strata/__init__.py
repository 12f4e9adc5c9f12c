"""Strata's gRPC contracts (generated Python code lives in strata.v1)."""
