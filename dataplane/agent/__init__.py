"""The node agent of an edge server: layer store, root folders, runc containers, pod network, NodeAgent service."""
