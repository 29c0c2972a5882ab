"""The scale node: reads a POS produce scale on its serial line and publishes its weight."""
