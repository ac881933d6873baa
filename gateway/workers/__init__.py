"""RQ jobs. Each takes ids, loads its rows, calls services, and is safe to run twice."""
