"""One module per `safeterraform` command; each `run(...)` returns an exit code."""
