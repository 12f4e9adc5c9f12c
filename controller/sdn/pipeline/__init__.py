"""The OpenFlow pipeline every switch holds, computed from the view and the desired state (pure).

One module per stage; the numbering (tables, priorities, registers, marks, cookies) in tables.py.
"""
