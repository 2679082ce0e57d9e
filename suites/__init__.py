"""Faithfulness suites (Only-BG, generative latents, Waterbirds mitigation), one module each (DESIGN.md section 1)."""
