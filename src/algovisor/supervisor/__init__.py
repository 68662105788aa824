"""The supervisor: runs strategy processes and keeps them matching the desired state.

Pure decisions (states, restart policy, run-end classification) sit beside the
process edge (spawn, prove identity, signal) and the reconciler loop that joins them.
"""
