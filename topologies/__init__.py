"""Edge network topologies: the declared model, the tiered edge generator, the Topology Zoo importer."""
