"""Caption text as the scorers need it (TExplain Section 4.3, Table 1: explanations scored against captions).

Two steps, the same for every metric of harness/metrics/captions:

- ``clean``: one line per string. METEOR's jar reads one ``SCORE ||| ref ||| ... ||| hyp`` line per
  segment from a pipe, so a newline inside a caption desynchronises it (a hang, or ``ValueError: could not
  convert string to float``; tylin/coco-caption#6, salaniz/pycocoevalcap#15), and ``|||`` inside a caption
  splits it into two references. PTBTokenizer writes one caption per line of a file, so a newline there
  shifts every later caption onto the wrong image. Both are removed here, before any scorer sees a string.
- ``tokenize``: pycocoevalcap's scorers expect tokenized, lowercased text (COCOEvalCap runs
  PTBTokenizer, Stanford CoreNLP 3.4.1 through Java, before BLEU, METEOR, ROUGE-L and CIDEr). ``ptb``
  does exactly that; ``lower`` (lowercase, runs of letters and digits) needs no Java and is labelled as
  such wherever it is used.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from texplain.errors import TExplainError

TOKENIZERS = ("ptb", "lower")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+")


def clean(text: str) -> str:
    """`text` on one line, without METEOR's field separator '|||', single-spaced."""
    if not isinstance(text, str):
        raise TypeError(f"captions and explanations must be str, got {type(text).__name__}: {text!r}")
    return _SPACES.sub(" ", text.replace("|||", " ")).strip()


def require_java(what: str) -> str:
    """The path of `java`, or a TExplainError naming what needs it and the fix (checked before any
    scorer starts a subprocess, so a missing Java is one sentence, not a FileNotFoundError deep inside
    pycocoevalcap)."""
    java = shutil.which("java")
    fix = ("install a Java runtime (Debian: apt-get install -y openjdk-17-jre-headless) or leave it out: "
           "--set suites.generative_latents.metrics=rouge_l_f1,meteor_nltk,cosine and "
           "--set suites.generative_latents.tokenizer=lower")
    if java is None:
        raise TExplainError(f"{what} needs Java, and there is no `java` on PATH; {fix}")
    try:
        subprocess.run([java, "-version"], capture_output=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError) as error:
        raise TExplainError(f"{what} needs Java, and `{java} -version` failed ({error}); {fix}") from error
    return java


def pycocoevalcap_file(*parts: str) -> Path:
    """A file shipped inside the pycocoevalcap package (the METEOR and CoreNLP jars), checked to exist."""
    import importlib.util

    # pycocoevalcap is a namespace package (no __init__.py), so its folder comes from the import spec.
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise TExplainError("the caption metrics need pycocoevalcap; pip install pycocoevalcap==1.2")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not path.is_file():
        raise TExplainError(f"{path} is missing from the pycocoevalcap install; reinstall it: pip install --force-reinstall pycocoevalcap==1.2")
    return path


def tokenize(texts: dict[str, list[str]], tokenizer: str = "ptb") -> dict[str, list[str]]:
    """Cleaned, tokenized, lowercased texts (tokens joined by single spaces), keyed as given."""
    if tokenizer not in TOKENIZERS:
        raise TExplainError(f"unknown caption tokenizer {tokenizer!r}; choose one of {', '.join(TOKENIZERS)}")
    cleaned = {key: [clean(t) for t in values] for key, values in texts.items()}
    if tokenizer == "lower":
        return {key: [" ".join(_WORD.findall(t.lower())) for t in values] for key, values in cleaned.items()}
    require_java("PTBTokenizer (pycocoevalcap, Stanford CoreNLP)")
    pycocoevalcap_file("tokenizer", "stanford-corenlp-3.4.1.jar")
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    # PTBTokenizer wants {id: [{"caption": str}]}; it keeps every id's captions in order.
    keyed = {key: [{"caption": t} for t in values] for key, values in cleaned.items() if values}
    tokenized = PTBTokenizer().tokenize(keyed) if keyed else {}
    return {key: tokenized.get(key, []) for key in texts}
