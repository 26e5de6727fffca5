"""domainemb.adapt."""
