"""The commit log: clock, outbox, pruning, and several processes on PostgreSQL + Redis."""
