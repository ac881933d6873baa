"""Web plumbing shared by the blueprints: staff authentication and roles, provider callback checks."""
