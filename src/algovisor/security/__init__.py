"""Secrets at rest and API credentials.

Fernet encryption with a key file kept outside the database, and API keys stored only as hashes.
"""
