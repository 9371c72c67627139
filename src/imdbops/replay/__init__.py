"""A replay of time: dated IMDb-format snapshots driven through the real commands.

``snapshots`` writes what IMDb would have published at each period's date; ``periods``
runs one period through the product (subprocesses of the ``imdbops`` command and a real
``imdbops serve``) under the period's clock; ``report`` turns what the commands printed
into JSON and an HTML page. Nothing here computes a metric the product does not compute
itself: the replay only reads what the commands say. Docs: docs/operating.md.
"""
