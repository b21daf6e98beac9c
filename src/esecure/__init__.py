"""e-secure: build, sign, personalise and update bank-grade secure access keys."""

__version__ = "0.1.0"

__all__ = ["__version__"]
