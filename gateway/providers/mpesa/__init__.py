"""M-Pesa Daraja: the API client, and callbacks and statements turned into domain events."""
