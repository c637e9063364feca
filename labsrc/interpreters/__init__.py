"""Other interpreters: find one, run the lab itself there, or the small worker (PyPy)."""
