"""Twilio webhooks, one module per hook."""
