"""The programs that run inside containers (the service program, the VNF programs): stdlib-only
files the node agent binds into every container; they import nothing of Strata."""
