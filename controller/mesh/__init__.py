"""The service-mesh controller: services, versions and traffic policies enforced by the switches."""
