"""Lenders and their staff: set up from nothing with commands (partners.py, staff.py, cli.py)."""
