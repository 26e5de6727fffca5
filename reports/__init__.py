"""domainemb.reports."""
