"""The project's benchmark (``make bench``); see docs/performance.md."""
