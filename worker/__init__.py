"""The Temporal worker process: runs the sequence workflows and their activities."""
