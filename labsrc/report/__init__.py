"""Everything a run says: lessons, findings, text tables, plots, the HTML page, diff."""
