"""The evaluator: events in, rewards out, with an explanation of every decision."""
