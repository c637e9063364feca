"""`gil-lab bench`: the lab's speed goals and what the harness costs, printed, never asserted."""
