"""The labeling configurations of the two studies (TExplain, Section 4.2, Figure 3), as Label Studio XML,
validated offline with the SDK's ``label_studio_sdk.label_interface.LabelInterface``.

Study (a), Figure 3 left: the image and a multi-select over its 10 words (dynamic choices, ``value="$words"``,
in Community edition since 1.5) plus an explicit "none of these" choice. The selection is required:
an empty multi-select could not be told apart from a task nobody looked at, so "no word matches" has
to be said by choosing "none of these". The number of matching words is derived from the selection,
so a rater cannot enter a count that disagrees with the words.

Study (b), Figure 3 right: the classifier's top prediction and the most frequent explanation word as
text, and a required single choice Yes / No.
"""

from __future__ import annotations

from dataclasses import dataclass

from texplain.errors import TExplainError

NONE_OF_THESE = "none of these"
YES, NO = "Yes", "No"

STUDY_A, STUDY_B = "a", "b"
STUDIES = (STUDY_A, STUDY_B)

WORDS_CONTROL, IMAGE_OBJECT = "words", "image"
ANSWER_CONTROL, PAIR_OBJECT = "related", "pair"

STUDY_A_CONFIG = f"""<View>
  <Header value="Which of these words describe something you can see in the image?"/>
  <Text name="instruction" value="Tick every word that matches the image. If none matches, tick only '{NONE_OF_THESE}'."/>
  <Image name="{IMAGE_OBJECT}" value="$image" maxWidth="448px"/>
  <Choices name="{WORDS_CONTROL}" toName="{IMAGE_OBJECT}" choice="multiple" value="$words" showInline="true" required="true"/>
</View>
"""

STUDY_B_CONFIG = f"""<View>
  <Header value="Is the explanation word related to the classifier's prediction?"/>
  <Text name="{PAIR_OBJECT}" value="$pair"/>
  <Choices name="{ANSWER_CONTROL}" toName="{PAIR_OBJECT}" choice="single-radio" required="true" showInline="true">
    <Choice value="{YES}"/>
    <Choice value="{NO}"/>
  </Choices>
</View>
"""


@dataclass(frozen=True)
class StudySpec:
    """What identifies a study: its key, its title stem, its config and its control/object names."""

    key: str
    title: str
    config: str
    control: str
    to_name: str


SPECS = {
    STUDY_A: StudySpec(STUDY_A, "TExplain study (a): words that match the image", STUDY_A_CONFIG, WORDS_CONTROL, IMAGE_OBJECT),
    STUDY_B: StudySpec(STUDY_B, "TExplain study (b): prediction and top word related", STUDY_B_CONFIG, ANSWER_CONTROL, PAIR_OBJECT),
}


def validate_config(config: str, where: str = "labeling config") -> None:
    """The SDK's offline validation (schema, unique names, toName targets); a TExplainError naming `where`."""
    from label_studio_sdk.label_interface import LabelInterface

    try:
        interface = LabelInterface(config)
        interface.validate()
    except Exception as error:  # the SDK raises its own validation error classes
        raise TExplainError(f"{where} is not a valid Label Studio labeling config: {error}") from error
    # The SDK's offline validate() checks the XML and its schema but not that a control's toName names an
    # object tag, nor that names are unique; the server refuses both, so check them here too.
    objects = [o.name for o in interface.objects]
    names = objects + [c.name for c in interface.controls]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TExplainError(f"{where} is not a valid Label Studio labeling config: names {duplicates} are used twice")
    for control in interface.controls:
        missing = [t for t in control.to_name if t not in objects]
        if missing:
            raise TExplainError(f"{where} is not a valid Label Studio labeling config: {control.tag} '{control.name}' has toName {missing}, "
                                f"which is no object tag (objects: {objects})")


def validate_task(config: str, task: dict, where: str) -> None:
    """The task's data carries every variable the config reads ($image, $words, $pair)."""
    from label_studio_sdk.label_interface import LabelInterface

    if not LabelInterface(config).validate_task({"data": task["data"]}):
        raise TExplainError(f"{where}: task {task['data'].get('task_id')!r} does not fit the labeling config (a $variable is missing)")


def normalized(config: str) -> str:
    """The config with whitespace between tags removed, for comparing a server's copy with ours."""
    import re

    return re.sub(r">\s+<", "><", config.strip())


def same_config(ours: str, theirs: str | None) -> bool:
    return theirs is not None and normalized(ours) == normalized(theirs)
