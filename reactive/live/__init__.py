"""Live queries: the instances shared by subscribers (``instances``), the per-process manager
(``subscriptions``), the re-run batches on their own thread (``batches``), the index from writes to the
read-sets they may affect (``readset_index``), and the diffs sent instead of whole values (``diffs``).
"""
