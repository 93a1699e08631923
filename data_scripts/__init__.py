"""Scripts that fetch, check and assemble data (Speech Commands, long test streams)."""
