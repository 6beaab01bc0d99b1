"""Functions: decorators, validators, preparing calls, pagination, journals, failure isolation."""
