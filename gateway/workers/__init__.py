"""RQ jobs. Each takes ids, loads its rows, calls services, and is safe to run twice."""

# Jobs post payments: the PAYG handler of gateway.signals.payment_posted must be connected here too.
import gateway.payg  # noqa: E402,F401
