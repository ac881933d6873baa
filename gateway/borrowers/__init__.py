"""Borrowers: onboarding by field agents (views.py, the agents API) and account numbers."""
