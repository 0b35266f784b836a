"""Loopback fake servers for tests (OpenAI and Opik), stdlib only, on 127.0.0.1."""
