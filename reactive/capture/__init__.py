"""Capture: what a running query reads and what every write touches, through the ORM hooks.

``tracking`` turns a tracked query's SELECTs into read-sets; ``writes`` turns INSERT, UPDATE, DELETE and raw
SQL into write-sets, in a buffer per connection that follows savepoints; ``images`` and ``sqltext`` give them
row images in the stored domain and the statements of raw SQL; ``patches`` installs the hooks in Django. It
hands each transaction's write-set to the commit log (``reactive.commitlog``), which never imports it back.
"""
