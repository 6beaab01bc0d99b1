"""Entry points: the HTTP API, the demo in a browser, the benchmark harness."""
