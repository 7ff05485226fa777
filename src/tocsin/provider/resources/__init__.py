"""The tocsin_* resource types and data sources, one module per engine object."""
