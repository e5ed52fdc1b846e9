"""Tools for the people around the pipeline: upstream publishers and the on-call engineer (not Lambda code)."""
