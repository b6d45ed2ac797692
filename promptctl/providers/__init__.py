"""Providers turn rendered messages into a completion. They are looked up by name
through `registry`, and their modules (with llama_cpp or openai) are imported only
when a model of that provider is actually used."""

from .base import Provider, ProviderError
from .registry import get_provider, names

__all__ = ["Provider", "ProviderError", "get_provider", "names"]
