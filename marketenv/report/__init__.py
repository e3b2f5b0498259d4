"""The realism report: stylized facts of a run, plots and an HTML page (``marketenv report``)."""
