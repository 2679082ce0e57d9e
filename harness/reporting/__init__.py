"""Reading a run: the run reader (``run_reader.py``), report.html / report.md (``report.py``, with inline
SVG charts from ``svg.py``), a headless-Chromium screenshot (``screenshot.py``) and run-vs-run comparison
(``compare.py``)."""
