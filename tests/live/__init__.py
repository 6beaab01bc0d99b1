"""Live queries: invalidation, fair batches, the read-set index and matching rule, diffs, recall."""
