"""Call recordings: per-leg WAVs from the workers merged into one stereo file."""
