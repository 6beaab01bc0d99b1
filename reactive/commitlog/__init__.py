"""The commit log: the commit clock and the outbox (``commits``), the read snapshot a batch runs in
(``snapshot``), and the notifications between processes (``bus``, with its own set of listeners).
"""
