"""The use-case layer: every operation the CLI, the API and the web UI offer.

Entry points call these functions; they call the capability packages.
"""
