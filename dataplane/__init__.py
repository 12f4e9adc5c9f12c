"""What runs in the network: the Mininet/OVS launcher, the image builder and registry, the node agent."""
