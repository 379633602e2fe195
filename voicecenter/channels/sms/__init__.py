"""SMS: a signed webhook in, a provider out, conversations threaded by number."""
