"""tracker: a self-hosted parcel tracking aggregator (see DESIGN in the README)."""

__version__ = "0.1.0"
