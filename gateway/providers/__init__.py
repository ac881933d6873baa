"""Adapters for outside providers: one module per provider, small interfaces our jobs call."""
