"""The company registry shipped with finfeed (companies.jsonl), as package data."""
