"""The orchestration that Celery tasks, the API and the CLI share.

Each function loads state from the store, calls the pure core, and saves the result in one
transaction. Nothing here knows about Celery: callers pass an `enqueue` callable where work
must be handed on after commit.
"""
