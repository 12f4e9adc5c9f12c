"""Layer-sharing-aware placement of containers on edge servers (the paper, section 4)."""
