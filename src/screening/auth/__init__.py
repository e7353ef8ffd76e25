"""Accounts, roles, API clients with scopes, sessions: who may do what."""
