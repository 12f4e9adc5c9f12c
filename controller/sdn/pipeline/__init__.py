"""The OpenFlow pipeline every switch holds, computed from the network view and the desired state (pure): one module per stage, the numbering in tables.py."""
