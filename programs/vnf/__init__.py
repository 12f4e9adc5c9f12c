"""The VNF programs (firewall, rate limiter, monitor): one stdlib-only file, program.py, that
containers run as `python3 /opt/strata/vnf.py`; see docs/vnf.md."""
