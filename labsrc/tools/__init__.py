"""Tools beside the matrix: `gil-lab check` (does a call release the GIL?) and the book's demos."""
