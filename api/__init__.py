"""The API types the components and their clients share: the application model, names, chain
classifiers, transport protocols, and their conversions to and from the gRPC messages."""
