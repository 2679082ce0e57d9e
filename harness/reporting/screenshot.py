"""Render an HTML file to PNG in headless Chromium, and tell a blank render from a real one.

The report must be checked as a person would see it (a page can be written without error and still render blank), so
tests and ``scripts/screenshot_report.py``
open report.html from disk in the browser Debian packages as ``chromium`` and look at the pixels.
Chromium's command-line screenshot captures the window only, not the whole page, so the window is made
tall and the empty rows below the page's end are cut off afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from texplain.errors import TExplainError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install it with `apt-get install -y chromium` (Debian/Ubuntu), or set $CHROMIUM to its path"


def find_chromium() -> str | None:
    """Path of a Chromium binary: $CHROMIUM if set, else the first of CHROMIUM_NAMES on PATH."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if shutil.which(configured) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 6000, trim: bool = True, timeout: float = 120.0) -> Path:
    """Render `html` (a file on disk, opened as file://) at `width` x `height` CSS pixels into `png`.

    With `trim`, rows at the bottom that are all the page's background colour are removed, so a tall
    window gives a full-page image of a shorter page.
    """
    browser = find_chromium()
    if browser is None:
        raise TExplainError(f"no Chromium found to render {html}; {INSTALL_HINT}")
    html, png = Path(html).resolve(), Path(png)
    if not html.is_file():
        raise TExplainError(f"{html} does not exist; build it first with `texplain report RUN_DIR`")
    png.parent.mkdir(parents=True, exist_ok=True)
    # A private profile folder: two renders at once (e.g. parallel tests) must not share Chromium's lock.
    with tempfile.TemporaryDirectory(prefix="texplain-chromium-") as profile:
        command = [
            browser, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--no-sandbox",  # the sandbox cannot start as root or in most containers
            f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}", html.as_uri(),
        ]
        try:
            result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            raise TExplainError(f"Chromium did not finish rendering {html} within {timeout:.0f} s") from error
    if result.returncode != 0 or not png.is_file():
        raise TExplainError(f"Chromium failed to render {html} (exit {result.returncode}): {result.stderr.strip()[-800:]}")
    if trim:
        trim_bottom(png)
    return png


def trim_bottom(png: Path, margin: int = 24) -> None:
    """Cut the rows below the last row that differs from the bottom-left pixel (the page background)."""
    image = Image.open(png).convert("RGB")
    pixels = np.asarray(image)  # (H, W, 3)
    background = pixels[-1, 0]
    differs = np.any(pixels != background, axis=(1, 2))  # (H,)
    rows = np.nonzero(differs)[0]
    if rows.size == 0:
        return  # all one colour: leave it for blank_report to flag
    bottom = min(pixels.shape[0], int(rows[-1]) + 1 + margin)
    if bottom < pixels.shape[0]:
        image.crop((0, 0, pixels.shape[1], bottom)).save(png)


@dataclass(frozen=True)
class PixelSummary:
    width: int
    height: int
    colours: int  # distinct colours (of a 64-level quantization)
    ink_share: float  # share of pixels that differ clearly from the most common colour
    std: float  # standard deviation of grey values

    @property
    def blank(self) -> bool:
        """A render that failed (white page, error page with a line of text) has almost no ink or colour."""
        return self.colours < 16 or self.ink_share < 0.01 or self.std < 5.0


def summarize_pixels(png: Path) -> PixelSummary:
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(np.int32)  # (H, W, 3)
    quantized = (pixels // 4).reshape(-1, 3)
    codes = quantized[:, 0] * 4096 + quantized[:, 1] * 64 + quantized[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    common = values[np.argmax(counts)]
    common_rgb = np.array([common // 4096, (common // 64) % 64, common % 64]) * 4
    ink = np.abs(pixels.reshape(-1, 3) - common_rgb).sum(axis=1) > 60
    grey = pixels.mean(axis=2)
    return PixelSummary(pixels.shape[1], pixels.shape[0], int(values.size), float(ink.mean()), float(grey.std()))
