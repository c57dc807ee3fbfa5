"""pipeline: composes the retrieve, rerank and generate Spaces; local launcher and CLI."""

from .launcher import DEFAULT_PORTS, Service, Stack

__all__ = ["DEFAULT_PORTS", "Service", "Stack"]
