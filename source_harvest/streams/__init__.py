"""Stream classes, one per Harvest behaviour; `catalog.STREAMS` configures them."""
