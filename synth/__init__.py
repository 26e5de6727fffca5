"""domainemb.synth."""
