"""The REST API (FastAPI): one router per feature, every route but health behind an API key."""
