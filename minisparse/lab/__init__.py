"""The lab: what regenerates the README's numbers and the article's figures. Nothing in the library
imports it.

- :mod:`~.figures` — ``python -m minisparse figures``: the registry of figures and the command.
- :mod:`~.fig_pruning`, :mod:`~.fig_dst`, :mod:`~.fig_dst_extras`, :mod:`~.fig_ctre` — each figure as
  a data function and a plotting function; :mod:`~.common` — what they share.
- :mod:`~.bench`, :mod:`~.bench_methods` — time and memory of a step, and of each method's update.
- ``studies/`` — the scripts and outputs behind the README's scale measurements.
"""
