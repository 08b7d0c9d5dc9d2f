"""What readers get: published snapshots, analysts' flags, and the API's keys."""
