"""Collections operations: portfolio numbers, flags, the call-centre queue, reports, the console."""
