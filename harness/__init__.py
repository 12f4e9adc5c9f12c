"""The running system: launching daemons and networks together (`strata up`, `demo`, `serve`)."""
