"""Training, data preparation and evaluation for BAMM Motion (not needed at run time)."""
