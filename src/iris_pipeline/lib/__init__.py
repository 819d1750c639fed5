"""Small pure-array helpers shared by several steps."""
