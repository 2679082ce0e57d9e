"""Writing a run: the staged main job (``run.py``), its cached stages (``stages.py``), the run directory
(``run_dir.py``), fail-early checks (``preflight.py``), provenance (``provenance.py``) and the captioned
images a translator trains on (``training_data.py``)."""
