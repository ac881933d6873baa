"""Africa's Talking: SMS and voice client, delivery reports and legacy payment notifications."""
