"""A test app with every field and relation kind, for the exactness and differential recall tests."""
