"""Local stand-ins for the providers (Daraja, Africa's Talking): demos and tests, never the runtime path."""
