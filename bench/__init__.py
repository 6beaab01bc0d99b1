"""The benchmark of ``reactive`` against its alternatives (``make bench``, ``python -m bench``).

Modules:

- :mod:`bench.harness` - runs the scenarios: starts servers, load generators and the writer, collects numbers;
- :mod:`bench.systems` - what is benchmarked: the systems compared (``SYSTEMS``) and a run's ``Options``;
- :mod:`bench.sampling` - CPU time and RSS of processes and of the machine from /proc, sampled while a run goes;
- :mod:`bench.statistics` - percentiles, latency summaries, ratios, and the numbers of a chat run;
- :mod:`bench.servers` - Daphne processes and their databases (SQLite file, or a scratch PostgreSQL database);
- :mod:`bench.loadgen` - the load-generating processes: protocol clients, polling clients, DCRF clients, writer,
  and the hostile-load runs' bystander and attacker;
- :mod:`bench.client` - a lean sync-protocol client (diffs applied as reactive/live/diffs.py describes), and the
  bystander that times its write round trips;
- :mod:`bench.attacks` - the hostile clients of ``python -m bench --hostile`` (docs/security.md, "Hostile load");
- :mod:`bench.db` - database chores run in a child process (migrate + seed, commit times from the outbox);
- :mod:`bench.report` - the Markdown table, the JSON file and the latency CDF plot;
- :mod:`bench.settings`, :mod:`bench.asgi`, :mod:`bench.dcrf` - the bench servers' Django configuration and
  the djangochannelsrestframework baseline consumer.
"""
