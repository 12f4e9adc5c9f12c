"""NFV MANO (NFVO-lite): VNF descriptors, the VNF lifecycle and service function chains."""
