"""Model definitions reused across notebooks, one module per family
(``from cnnlib.models.<family> import ...``)."""
