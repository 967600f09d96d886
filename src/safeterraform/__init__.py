"""safeterraform: a terraform shim that guards production."""

__version__ = "0.1.0"
