"""Protect: API keys and scopes, the audit log (consent, erasure and encryption come later)."""
