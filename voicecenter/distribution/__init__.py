"""Handing interactions to agents: the router with time, persistence and calls."""
