"""Repayment reminders: the ladder of steps per loan product (data) and the rules for sending."""
