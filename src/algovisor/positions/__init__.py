"""Strategy positions: what each strategy holds, persisted so a crash loses none of it.

Pure rules (validation, reconciliation with the broker) beside the store the SDK writes to.
"""
