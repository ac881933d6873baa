"""Mobile-money payments: provider callbacks (M-Pesa Daraja C2B and STK push, Africa's Talking
legacy notifications), statement imports, matching to loans, posting, reversals and suspense.

views.py (thin HTTP) -> service.py (the rules) -> gateway.ledger (the money);
mpesa.py is the Daraja client; matching.py the ordered loan-matching rules;
authenticity.py decides whether a callback really comes from the provider.
"""
