"""Your own wake word, offline (issue 16): voices, negatives, training, quantizing, tuning."""
