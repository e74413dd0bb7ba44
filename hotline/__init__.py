"""What the three commands (ivr, acd, seats) share: one error convention, one way to find the config."""
