"""The analysis of a training run as pictures: ``plot_data``, ``figures``, the ``html`` report."""
