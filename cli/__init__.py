"""domainemb.cli."""
