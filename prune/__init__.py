"""domainemb.prune."""
