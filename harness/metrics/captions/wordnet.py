"""WordNet 3.0 for NLTK's METEOR, from Debian's packages (docs/design.md#offline-models-and-stand-ins).

NLTK's ``meteor_score`` looks up synonyms in WordNet, which NLTK normally fetches with
``nltk.download('wordnet')``; that downloader cannot reach its server here, and no PyPI package ships the
data. Debian's ``wordnet-base`` (the database files) and ``wordnet-sense-index`` (``index.sense``) ship
Princeton WordNet 3.0 under /usr/share/wordnet. NLTK refuses that folder as it is, because its reader opens
a ``lexnames`` file (the lexicographer-file table, documented in lexnames(5WN)) that Debian does not
install. So the files are copied into ``<nltk_data>/corpora/wordnet/`` and ``lexnames`` is written there
from the table below, and NLTK is pointed at ``<nltk_data>``.

Install the packages with ``make wordnet`` (as root: apt-get install -y wordnet-base wordnet-sense-index).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from texplain.errors import TExplainError

DEBIAN_WORDNET = Path("/usr/share/wordnet")
# Files NLTK's WordNetCorpusReader opens (lexnames is written here, not copied).
_NEEDED = tuple(f"{kind}.{pos}" for kind in ("index", "data") for pos in ("noun", "verb", "adj", "adv")) + ("noun.exc", "verb.exc", "adj.exc", "adv.exc")

# lexnames(5WN) of WordNet 3.0: file number, lexicographer file, syntactic category (1 noun, 2 verb,
# 3 adjective, 4 adverb). The numbers are what data.* files store, so the order is fixed.
LEXNAMES: tuple[str, ...] = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition", "verb.consumption",
    "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
    "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
INSTALL_FIX = "install it as root with `make wordnet` (apt-get install -y wordnet-base wordnet-sense-index), or leave meteor_nltk out of suites.generative_latents.metrics"


def lexnames_text() -> str:
    return "".join(f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for number, name in enumerate(LEXNAMES))


def default_nltk_data() -> Path:
    """$TEXPLAIN_CACHE/nltk_data (next to the harness's other caches)."""
    from texplain.decoders.packaged_smollm2 import default_cache_dir

    return default_cache_dir() / "nltk_data"


def prepare_wordnet(nltk_data: Path | None = None, source: Path = DEBIAN_WORDNET) -> Path:
    """Copy Debian's WordNet into `nltk_data`/corpora/wordnet (once), point NLTK there, and check that it
    loads; returns `nltk_data`. A missing package is a TExplainError with the fix."""
    nltk_data = Path(nltk_data) if nltk_data is not None else default_nltk_data()
    target = nltk_data / "corpora" / "wordnet"
    if not (target / "lexnames").is_file():
        missing = [name for name in _NEEDED if not (source / name).is_file()]
        if missing:
            raise TExplainError(f"NLTK's METEOR needs WordNet, and {source} lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}; {INSTALL_FIX}")
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copyfile(path, target / path.name)
        # Written last and atomically: its presence marks a finished copy.
        partial = target / "lexnames.partial"
        partial.write_text(lexnames_text())
        os.replace(partial, target / "lexnames")
    import nltk

    if str(nltk_data) not in nltk.data.path:
        nltk.data.path.insert(0, str(nltk_data))
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except (LookupError, OSError) as error:
        raise TExplainError(f"NLTK could not read WordNet from {target} ({str(error).strip().splitlines()[0] if str(error).strip() else error}); delete {target} and retry, or {INSTALL_FIX}") from error
    return nltk_data
