"""The lab: what regenerates the README's numbers and the article's figures. Nothing in the library
imports it.

- :mod:`~.figures` — ``python -m minisparse figures``: the registry of figures and the command.
- :mod:`~.fig_pruning`, :mod:`~.fig_dst`, :mod:`~.fig_dst_extras`, :mod:`~.fig_ctre` — each figure as
  a data function and a plotting function; :mod:`~.common` — what they share.
- :mod:`~.compare` — ``python -m minisparse compare``: several methods under F3's fair protocol.
- :mod:`~.fig_kwta`, :mod:`~.fig_continual` — sparse activations; continual learning.
- :mod:`~.bench`, :mod:`~.bench_methods`, :mod:`~.bench_kwta` — time and memory of a step, of each
  method's update, and of the products as the active inputs shrink.
- ``studies/`` — the scripts and outputs behind the README's scale measurements.
"""
