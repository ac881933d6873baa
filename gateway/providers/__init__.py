"""Outside parties we talk to, as adapters: their wire formats live here and nowhere else."""
