"""Django's own test suite, run with reactive installed (``make django-suite``; see run.py)."""
