"""Text channels: web chat and SMS, run by the same flows and router as calls.

A conversation here is an interaction of channel chat or sms. Its lines are
numbered (so a customer who reconnects resumes from the last one seen), kept
on the interaction's timeline, run through the YAML flows by a text
CallControl, and handed to agents through the same router as calls.
"""
